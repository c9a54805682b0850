import { writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { Bench } from 'tinybench';
import * as E from '../engine/index.js';
import { type BenchRecord, markdownTable, ratioTable } from './record.js';
import type { BenchCase, Suite } from './suite.js';
import { kernelSuite } from './suites/kernels.js';
import { trainingSuite } from './suites/training.js';

/*
 * npm run bench [-- --filter SUBSTR] [--quick] [--out FILE] [--backend cpu|webgpu|auto]
 * Runs every suite's cases whose label ("suite op shape dtype") contains SUBSTR, prints a markdown table (and,
 * for cases measured on both backends, the WebGPU/CPU time ratios) and optionally writes the records as JSON.
 * --backend picks the backends measured: cpu, webgpu (fails without an adapter), or auto (the default: the CPU,
 * and WebGPU too when an adapter is found). Medians, not means: this machine is shared and its second vCPU comes
 * and goes (see ../shared/spec/peers.md), which shows up as outliers.
 */

const { values: args } = parseArgs({
  options: {
    filter: { type: 'string' },
    quick: { type: 'boolean', default: false },
    out: { type: 'string' },
    backend: { type: 'string', default: 'auto' },
  },
});

const backendArg = args.backend;
if (backendArg !== 'cpu' && backendArg !== 'webgpu' && backendArg !== 'auto') throw new Error(`--backend must be cpu, webgpu or auto, not '${backendArg}'`);
const choice: E.BackendChoice = backendArg;

/** Timing budget per case: at least `iterations` calls and `time` ms, after a warm-up for the JIT (and shader compiles). */
const budget = args.quick
  ? { time: 200, iterations: 3, warmupTime: 300, warmupIterations: 3 }
  : { time: 2000, iterations: 10, warmupTime: 500, warmupIterations: 3 };

/** Slow cases (whole training steps, seconds each): one warm-up call, then a fixed number of timed calls. */
const slowBudget = { time: 0, iterations: args.quick ? 2 : 5, warmupTime: 0, warmupIterations: 1 };

const label = (suite: Suite, c: BenchCase) => `${suite.name} ${c.op} ${c.shape} ${c.dtype}`;

async function measure(suite: Suite, c: BenchCase): Promise<BenchRecord> {
  const prepared = c.prepare();
  try {
    const bench = new Bench({ ...(c.slow ? slowBudget : budget), throws: true });
    bench.add(label(suite, c), prepared.run);
    const [task] = await bench.run();
    const result = task!.result;
    if (result.state !== 'completed') throw new Error(`${label(suite, c)}: benchmark ended in state ${result.state}`);
    const ms = result.latency.p50;
    return {
      suite: suite.name,
      op: c.op,
      shape: c.shape,
      backend: c.backend,
      engine: suite.engine,
      dtype: c.dtype,
      ms_median: ms,
      gflops: c.flops === null ? null : c.flops / (ms * 1e6),
      gbps: c.bytes === null ? null : c.bytes / (ms * 1e6),
    };
  } finally {
    prepared.dispose();
  }
}

/** Opens WebGPU once when asked for; says so and returns false when 'auto' finds no adapter. */
async function openWebGPU(): Promise<{ ok: boolean; line: string }> {
  if (choice === 'cpu') return { ok: false, line: 'WebGPU: not measured (--backend cpu)' };
  const selection = await E.selectBackend(choice, { verbose: false });
  E.setBackend('cpu');
  if (selection.backend.name === 'webgpu') return { ok: true, line: `WebGPU: ${selection.reason}` };
  return { ok: false, line: `WebGPU: no adapter, its suites are skipped: ${selection.reason}` };
}

const webgpu = await openWebGPU();
process.stderr.write(`${webgpu.line}\n`);

const suites: Suite[] = [
  ...(choice !== 'webgpu' ? [kernelSuite('cpu'), trainingSuite('cpu')] : []),
  ...(webgpu.ok ? [kernelSuite('webgpu'), trainingSuite('webgpu')] : []),
];

const records: BenchRecord[] = [];
try {
  for (const suite of suites) {
    for (const c of suite.cases()) {
      if (args.filter && !label(suite, c).includes(args.filter)) continue;
      process.stderr.write(`${label(suite, c)} …\n`);
      const started = performance.now();
      records.push(await measure(suite, c));
      process.stderr.write(`  ${((performance.now() - started) / 1000).toFixed(1)} s in all\n`);
    }
  }
} finally {
  // Node does not exit while a Dawn device lives.
  await E.destroyWebGPU();
}

console.log(`node ${process.version}, ${cpus()[0]?.model ?? 'unknown CPU'} ×${cpus().length}, load average ${loadavg()[0]!.toFixed(2)} at the end${args.quick ? ', --quick' : ''}`);
console.log(`${webgpu.line}\n`);
console.log(markdownTable(records));
const ratios = ratioTable(records, 'webgpu', 'cpu');
if (ratios) console.log(`\nWebGPU time / CPU time (below 1: WebGPU is faster)\n\n${ratios}`);
if (args.out) writeFileSync(args.out, JSON.stringify(records, null, 2) + '\n');
