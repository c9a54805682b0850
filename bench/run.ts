import { writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { Bench } from 'tinybench';
import { tuneCommonShapes } from '../engine/backends/webgpu/matmul-autotune.js';
import { gpuTime, timestampsAvailable } from '../engine/backends/webgpu/timing.js';
import * as E from '../engine/index.js';
import { measurePeaks, peakFraction, peakRecords, type Peaks } from './peaks/index.js';
import { gpujsEngine } from './peers/gpujs.js';
import { onnxruntimeEngine } from './peers/onnxruntime.js';
import { opSpecs } from './peers/ops.js';
import { oursEngine } from './peers/ours.js';
import { PEER_SUITE, peerSuite } from './peers/peer-suite.js';
import { tfjsEngine } from './peers/tfjs.js';
import { type BenchRecord, comparisonTable, markdownTable, ratioTable, SETUP_OP } from './record.js';
import type { BenchCase, Suite } from './suite.js';
import { kernelSuite } from './suites/kernels.js';
import { trainingSuite } from './suites/training.js';

/*
 * npm run bench [-- --filter SUBSTR] [--quick] [--out FILE] [--backend cpu|webgpu|auto] [--engines a,b,...]
 *
 * Runs the same ops through our engine and its peers (bench/peers/), in this one process, and prints each
 * figure also as a fraction of the hardware's measured peak (bench/peaks/). Then, without --quick, our own
 * kernel and training-step suites. A case runs when its label ("suite engine backend op shape dtype") contains
 * SUBSTR. --engines picks among ours, tfjs-cpu, tfjs-wasm, tfjs-webgpu, onnxruntime and gpujs (default: all).
 * --backend picks our engine's backends: cpu, webgpu (fails without an adapter), or auto (the CPU, and WebGPU too
 * when an adapter is found). --quick uses small shapes and few calls: about two minutes on an idle machine.
 *
 * This machine's second vCPU is sometimes time-shared with the first (see ../shared/spec/peers.md). So the CPU
 * engines run on one thread each, and the engines run interleaved: each op through every engine, then the next
 * op, so that a change of state hits all engines alike. Medians, not means: the machine is shared.
 *
 * Our WebGPU cases also get "GPU ms", device time by timestamp queries, where the adapter offers them. TUNE=1
 * runs the matmul autotuner first and prints what it picked (engine/backends/webgpu/tuning.ts).
 */

const ENGINES = ['ours', 'tfjs-cpu', 'tfjs-wasm', 'tfjs-webgpu', 'onnxruntime', 'gpujs'] as const;
type EngineName = (typeof ENGINES)[number];

const { values: args } = parseArgs({
  options: {
    filter: { type: 'string' },
    quick: { type: 'boolean', default: false },
    out: { type: 'string' },
    backend: { type: 'string', default: 'auto' },
    engines: { type: 'string', default: ENGINES.join(',') },
  },
});

const backendArg = args.backend;
if (backendArg !== 'cpu' && backendArg !== 'webgpu' && backendArg !== 'auto') throw new Error(`--backend must be cpu, webgpu or auto, not '${backendArg}'`);
const choice: E.BackendChoice = backendArg;

const engines = new Set(args.engines.split(',').map((e) => e.trim()));
for (const e of engines) if (!(ENGINES as readonly string[]).includes(e)) throw new Error(`--engines: unknown engine '${e}' (known: ${ENGINES.join(', ')})`);
const wanted = (e: EngineName) => engines.has(e);

/** Timing budget per case: at least `iterations` calls and `time` ms, after a warm-up for the JIT (and shader compiles). */
const budget = args.quick
  ? { time: 200, iterations: 3, warmupTime: 100, warmupIterations: 1 }
  : { time: 2000, iterations: 10, warmupTime: 500, warmupIterations: 3 };

/**
 * Slow cases (training steps, or any whose first call took over a second): a fixed number of timed calls, with
 * the first call as their only warm-up.
 */
const slowBudget = { time: 0, iterations: args.quick ? 2 : 5, warmup: false };
const SLOW_FIRST_CALL_MS = 1000;

/** A case (or a teardown) that has not settled by then is reported as hung, so that one stuck engine cannot stall the run. */
const CASE_DEADLINE_MS = args.quick ? 30_000 : 300_000;
const TEARDOWN_DEADLINE_MS = 10_000;

/** `work`, or a rejection once `ms` have passed; the timer does not keep the process alive. */
function withDeadline<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no result after ${ms / 1000} s`)), ms).unref();
  });
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}

const label = (suite: Suite, c: BenchCase) => `${suite.name} ${suite.engine} ${c.backend} ${c.op} ${c.shape} ${c.dtype}`;
const selected = (suite: Suite) => suite.cases().filter((c) => !args.filter || label(suite, c).includes(args.filter));

function record(suite: Suite, c: Pick<BenchCase, 'op' | 'shape' | 'backend' | 'dtype'>): BenchRecord {
  const { op, shape, backend, dtype } = c;
  return { suite: suite.name, op, shape, backend, engine: suite.engine, dtype, ms_median: null, first_ms: null, gflops: null, gbps: null, peak_fraction: null };
}

/** Device time of a WebGPU call by timestamp queries (engine/backends/webgpu/timing.ts): the median of a few calls. */
async function medianGpuTime(run: () => unknown): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < (args.quick ? 3 : 7); i++) times.push(await gpuTime(run));
  return times.sort((a, b) => a - b)[times.length >> 1]!;
}

/** Times one case: its first call alone, then the steady state. A case that throws or hangs becomes an error record. */
async function measure(suite: Suite, c: BenchCase): Promise<BenchRecord> {
  try {
    return await withDeadline(timeCase(suite, c), CASE_DEADLINE_MS, 'the case');
  } catch (e) {
    return { ...record(suite, c), error: (e as Error).message };
  }
}

async function timeCase(suite: Suite, c: BenchCase): Promise<BenchRecord> {
  const prepared = await c.prepare();
  try {
    const started = performance.now();
    await prepared.run();
    const firstMs = performance.now() - started;
    const bench = new Bench({ ...(c.slow || firstMs > SLOW_FIRST_CALL_MS ? slowBudget : budget), throws: true });
    bench.add(label(suite, c), prepared.run);
    const [task] = await bench.run();
    const result = task!.result;
    if (result.state !== 'completed') throw new Error(`benchmark ended in state ${result.state}`);
    const ms = result.latency.p50;
    const gpuMs = c.backend === 'webgpu' && !c.slow && timestampsAvailable() ? await medianGpuTime(prepared.run) : undefined;
    return {
      ...record(suite, c),
      ms_median: ms,
      ...(gpuMs === undefined ? {} : { gpu_ms: gpuMs }),
      first_ms: firstMs,
      gflops: c.flops === null ? null : c.flops / (ms * 1e6),
      gbps: c.bytes === null ? null : c.bytes / (ms * 1e6),
    };
  } finally {
    await prepared.dispose();
  }
}

/** Opens our WebGPU backend once when asked for; says so and returns false when 'auto' finds no adapter. */
async function openWebGPU(): Promise<{ ok: boolean; line: string }> {
  if (choice === 'cpu' || !wanted('ours')) return { ok: false, line: 'WebGPU (ours): not measured' };
  const selection = await E.selectBackend(choice, { verbose: false });
  E.setBackend('cpu');
  if (selection.backend.name === 'webgpu') return { ok: true, line: `WebGPU (ours): ${selection.reason}` };
  return { ok: false, line: `WebGPU (ours): no adapter, its suites are skipped: ${selection.reason}` };
}

/** Opens our gpu.js backend (mode from GPUJS_MODE) when our engine runs with --backend auto; says why not otherwise. */
async function openGpuJs(): Promise<{ ok: boolean; line: string }> {
  if (choice !== 'auto' || !wanted('ours')) return { ok: false, line: 'gpu.js backend (ours): not measured (--backend auto measures it)' };
  try {
    // Loaded only when measured: gpu.js is a large package that a WebGPU-only run should not need.
    const { initGpuJs } = await import('../engine/backends/gpujs/backend.js');
    const backend = await initGpuJs();
    return { ok: true, line: `gpu.js backend (ours): mode '${backend.mode}' (GPUJS_MODE)` };
  } catch (e) {
    return { ok: false, line: `gpu.js backend (ours): cannot open: ${(e as Error).message}` };
  }
}

const webgpu = await openWebGPU();
process.stderr.write(`${webgpu.line}\n`);
const gpujsOurs = await openGpuJs();
process.stderr.write(`${gpujsOurs.line}\n`);
// TUNE=1: time the matmul variants on this adapter first, so that every case runs with the winners.
if (webgpu.ok && process.env.TUNE === '1') for (const line of await tuneCommonShapes()) process.stderr.write(`tuned ${line}\n`);

const specs = opSpecs(args.quick);
/**
 * Ours last in each round: a WebGPU fault of ours can stall the shared lavapipe adapter, and the peers' figures
 * for that op are then already taken.
 */
const peerEngines = [
  ...(wanted('tfjs-cpu') ? [tfjsEngine('cpu')] : []),
  ...(wanted('tfjs-wasm') ? [tfjsEngine('wasm')] : []),
  ...(wanted('onnxruntime') ? [onnxruntimeEngine()] : []),
  ...(wanted('tfjs-webgpu') ? [tfjsEngine('webgpu')] : []),
  ...(wanted('gpujs') ? [gpujsEngine()] : []),
  ...(wanted('ours') && choice !== 'webgpu' ? [oursEngine('cpu')] : []),
  ...(wanted('ours') && webgpu.ok ? [oursEngine('webgpu')] : []),
  ...(wanted('ours') && gpujsOurs.ok ? [oursEngine('gpujs')] : []),
];

/** Suites whose cases run interleaved with each other: case i of every suite, then case i + 1. */
const groups: Suite[][] = [
  peerEngines.map((p) => peerSuite(p, specs)),
  // Our own kernel and training suites have fixed, full-size shapes: they are left out of --quick.
  ...(wanted('ours') && !args.quick
    ? [
        [...(choice !== 'webgpu' ? [kernelSuite('cpu')] : []), ...(webgpu.ok ? [kernelSuite('webgpu')] : []), ...(gpujsOurs.ok ? [kernelSuite('gpujs')] : [])],
        [...(choice !== 'webgpu' ? [trainingSuite('cpu')] : []), ...(webgpu.ok ? [trainingSuite('webgpu')] : [])],
      ]
    : []),
].map((g) => g.filter((s) => selected(s).length > 0));

/** Engines whose teardown hung: their devices may keep the process alive after the output is written. */
const unclosed: string[] = [];

/** Sets up every suite, measures the peaks, then runs each group's cases interleaved; closes everything at the end. */
async function runAll(): Promise<{ records: BenchRecord[]; peaks: Peaks }> {
  const records: BenchRecord[] = [];
  const opened: Suite[] = [];
  try {
    const ready = new Set<Suite>();
    for (const suite of groups.flat()) {
      opened.push(suite);
      try {
        await suite.setup?.();
        ready.add(suite);
      } catch (e) {
        const backend = suite.cases()[0]?.backend ?? '';
        records.push({ ...record(suite, { op: SETUP_OP, shape: '', backend, dtype: 'float32' }), error: (e as Error).message });
        process.stderr.write(`${suite.engine}: setup failed: ${(e as Error).message}\n`);
      }
    }
    process.stderr.write('measuring the peaks …\n');
    const onAdapter = [...ready].some((s) => selected(s).some((c) => c.backend === 'webgpu'));
    const peaks = await measurePeaks(args.quick, onAdapter);
    for (const group of groups) {
      const suites = group.filter((s) => ready.has(s));
      const lists = suites.map(selected);
      for (let i = 0; i < Math.max(0, ...lists.map((l) => l.length)); i++) {
        for (const [s, suite] of suites.entries()) {
          const c = lists[s]![i];
          if (!c) continue;
          process.stderr.write(`${label(suite, c)} …\n`);
          const started = performance.now();
          const r = await measure(suite, c);
          records.push(r);
          process.stderr.write(`  ${r.error ? `error: ${r.error}` : `${((performance.now() - started) / 1000).toFixed(1)} s in all`}\n`);
        }
      }
    }
    return { records, peaks };
  } finally {
    // Node does not exit while a Dawn device lives: every engine closes its own.
    const closing = [...opened.map((s) => ({ what: `${s.engine} teardown`, close: s.teardown })), { what: 'our WebGPU teardown', close: E.destroyWebGPU }, { what: 'our gpu.js teardown', close: async () => gpujsOurs.ok && (await import('../engine/backends/gpujs/backend.js')).destroyGpuJs() }];
    for (const { what, close } of closing) {
      if (close) {
        await withDeadline(close(), TEARDOWN_DEADLINE_MS, what).catch((e: Error) => {
          unclosed.push(what);
          process.stderr.write(`${e.message}\n`);
        });
      }
    }
  }
}

const { records, peaks } = await runAll();
const all = [...peakRecords(peaks), ...records.map((r) => ({ ...r, peak_fraction: peakFraction(r, peaks) }))];

console.log(`node ${process.version}, ${cpus()[0]?.model ?? 'unknown CPU'} ×${cpus().length}, load average ${loadavg()[0]!.toFixed(2)} at the end${args.quick ? ', --quick' : ''}`);
console.log(webgpu.line);
console.log(
  'CPU engines run on one thread (ours cpu; tfjs-cpu; tfjs-wasm, whose threads cannot start in Node; onnxruntime with intraOpNumThreads 1); ' +
    'WebGPU engines run on Dawn + lavapipe, which uses every core. Engines ran interleaved, op by op.',
);
console.log(
  `Peaks: CPU FMA ${peaks.cpu.fmaGflops} GFLOP/s/core (native, a constant measured in C for peers.md; wasm SIMD reaches ${peaks.cpu.wasmSimdGflops.toFixed(1)} here), ` +
    `CPU copy ${peaks.cpu.copyGbps.toFixed(1)} GB/s; ` +
    (peaks.adapter ? `adapter FMA ${peaks.adapter.fmaGflops.toFixed(1)} GFLOP/s, adapter copy ${peaks.adapter.copyGbps.toFixed(1)} GB/s` : `adapter: ${peaks.adapterError}`) +
    '. % of peak: GFLOP/s over the FMA peak for ops with a FLOP count, GB/s over the copy bandwidth for the others.\n',
);
const comparison = comparisonTable(all, PEER_SUITE);
if (comparison) console.log(`Same ops, every engine: median ms (% of its device's peak)\n\n${comparison}\n`);
console.log(markdownTable(all));
const ratios = ratioTable(all.filter((r) => r.suite !== PEER_SUITE), 'webgpu', 'cpu');
if (ratios) console.log(`\nWebGPU time / CPU time (below 1: WebGPU is faster)\n\n${ratios}`);
if (args.out) writeFileSync(args.out, JSON.stringify(all, null, 2) + '\n');
if (unclosed.length) {
  process.stderr.write(`exiting although ${unclosed.join(', ')} did not finish\n`);
  process.exit(1);
}
