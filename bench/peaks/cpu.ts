import { FLOPS_PER_ITERATION, wasmSimdFmaKernel } from './wasm-simd-fma.js';

/*
 * The CPU's ceilings for one core, as far as a Node process can measure them. A peak is the best of several
 * short runs, not their median: on a shared machine the slow runs are the ones that were interrupted.
 */

/**
 * The native fp32 FMA peak of one core, measured with C (12 independent AVX-512 FMA chains, native/peak.c) in
 * ../shared/spec/peers.md: 114–117 GFLOP/s (Zen 4 at an effective 3.6 GHz). JavaScript cannot issue AVX-512
 * FMAs, so it is a documented constant here, and the denominator of every CPU compute figure's peak fraction:
 * native engines (onnxruntime) are measured against what the core can do, not against what wasm can.
 */
export const NATIVE_FMA_GFLOPS_PER_CORE = 115;

/** Runs `trial` (which returns its work in units of 1e9) `count` times and keeps the best rate. */
function best(count: number, trial: () => number): number {
  let top = 0;
  for (let i = 0; i < count; i++) {
    const started = performance.now();
    const work = trial();
    top = Math.max(top, work / ((performance.now() - started) * 1e-3));
  }
  return top;
}

/** GFLOP/s of the wasm SIMD multiply-add kernel on this thread. */
export function measureWasmSimdGflops(quick: boolean): number {
  const run = wasmSimdFmaKernel();
  const iterations = 1_000_000; // about 10–30 ms a run
  // Short calls first, so that V8 tiers the function up from its baseline compiler to its optimising one.
  for (let i = 0; i < 50; i++) run(10_000);
  return best(quick ? 10 : 30, () => {
    run(iterations);
    return (iterations * FLOPS_PER_ITERATION) / 1e9;
  });
}

/** GB/s of `Float32Array.set` between two arrays far larger than the caches, read and write both counted. */
export function measureCopyGbps(quick: boolean): number {
  const length = (quick ? 32 : 64) * 2 ** 20; // 128 or 256 MiB each
  const [source, target] = [new Float32Array(length).fill(1), new Float32Array(length)];
  target.set(source); // first touch: page faults are not bandwidth
  return best(quick ? 3 : 7, () => {
    target.set(source);
    return (2 * source.byteLength) / 1e9;
  });
}
