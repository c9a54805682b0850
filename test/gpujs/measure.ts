/**
 * What transpiling kernels from JavaScript costs: matmul 512³, softmax and an elementwise chain on the gpu.js
 * backend in each gpu.js mode, beside the CPU backend and, where an adapter exists, the hand-written WGSL of
 * the WebGPU backend, all in one process. Run: `npx tsx test/gpujs/measure.ts [rounds]`.
 *
 * Each round times every backend once per case, so that a machine whose load changes (a shared one) weighs on
 * all of them alike; the table gives the median over rounds. Each timing includes reading the result back, since
 * a gpu.js kernel always returns host arrays; on the WebGPU backend the inputs stay on the device between ops,
 * while gpu.js uploads its arguments on every call. Both differences are part of what the approach costs.
 */
import * as E from '../../engine/index.js';
import type { Backend, Tensor } from '../../engine/index.js';
import { type GpuJsBackend, makeGpuJsBackend } from '../../engine/backends/gpujs/backend.js';
import { GPUJS_MODES, openGpuJs } from '../../engine/backends/gpujs/runtime.js';
import { destroyWebGPU, initWebGPU } from '../../engine/backends/webgpu/device.js';
import { seededValues } from './helpers.js';

const rounds = Number(process.argv[2] ?? 5);

interface Case {
  name: string;
  shapes: number[][];
  fn: (...xs: Tensor[]) => Tensor;
}

const cases: Case[] = [
  { name: 'matmul 512³', shapes: [[512, 512], [512, 512]], fn: E.matmul },
  { name: 'softmax [256,1024]', shapes: [[256, 1024]], fn: (x) => E.softmax(x, -1) },
  { name: 'x·y + x [1024,1024]', shapes: [[1024, 1024], [1024, 1024]], fn: (x, y) => E.add(E.mul(x, y), x) },
];

const backends: { label: string; backend: Backend }[] = [{ label: 'cpu backend (TypeScript)', backend: E.getBackend('cpu') }];
const gpujs: GpuJsBackend[] = [];
for (const mode of GPUJS_MODES) {
  try {
    const backend = makeGpuJsBackend(await openGpuJs(mode));
    gpujs.push(backend);
    backends.push({ label: `gpujs, gpu.js mode ${mode}`, backend });
  } catch (e) {
    console.error(`gpu.js mode ${mode} skipped: ${(e as Error).message}`);
  }
}
try {
  backends.push({ label: 'webgpu backend (hand-written WGSL)', backend: await initWebGPU({ verbose: true }) });
} catch (e) {
  console.error(`webgpu backend skipped: ${(e as Error).message}`);
}

async function timeOnce(c: Case, inputs: Tensor[]): Promise<number> {
  const start = performance.now();
  // A synchronous scope: an async one walks the returned typed array element by element (engine/memory.ts).
  const result = E.scope(() => c.fn(...inputs));
  await result.toArray();
  result.dispose();
  return performance.now() - start;
}

const medians = new Map<string, number[]>(backends.map((b) => [b.label, []]));
for (const c of cases) {
  const inputs = backends.map(({ backend }) => c.shapes.map((s, k) => E.fromArray(seededValues(s[0]! * s[1]!, k + 1), s, { backend })));
  // The first call compiles (gpu.js transpiles; WGSL pipelines are built), so it is not timed.
  for (let b = 0; b < backends.length; b++) await timeOnce(c, inputs[b]!);
  const times = backends.map(() => [] as number[]);
  for (let r = 0; r < rounds; r++) {
    for (let b = 0; b < backends.length; b++) times[b]!.push(await timeOnce(c, inputs[b]!));
  }
  times.forEach((t, b) => medians.get(backends[b]!.label)!.push(t.sort((x, y) => x - y)[Math.floor(t.length / 2)]!));
  inputs.flat().forEach((t) => t.dispose());
  console.error(`measured ${c.name}`);
}
for (const backend of gpujs) {
  console.error(backend.summary());
  await backend.destroy();
}
await destroyWebGPU();

const baseline = medians.get(backends[0]!.label)!;
console.log(`median of ${rounds} rounds, ms (× = speed relative to the CPU backend; GFLOP/s for matmul)`);
console.log(['backend', ...cases.map((c) => c.name)].join(' | '));
for (const [label, ms] of medians) {
  const cells = ms.map((t, i) => `${t.toFixed(1)} (${(baseline[i]! / t).toFixed(2)}×${i === 0 ? `, ${((2 * 512 ** 3) / t / 1e6).toFixed(2)} GFLOP/s` : ''})`);
  console.log([label, ...cells].join(' | '));
}
