import type { BenchRecord } from '../record.js';
import { type AdapterPeaks, measureAdapterPeaks } from './adapter.js';
import { measureCopyGbps, measureWasmSimdGflops, NATIVE_FMA_GFLOPS_PER_CORE } from './cpu.js';

/*
 * The hardware's ceilings, so that every figure can also be read as a fraction of what its device can do:
 * GFLOP/s over the FMA peak for compute-bound ops (those with a FLOP count), GB/s over the copy bandwidth for
 * memory-bound ones. The CPU figures are for one core, like the single-threaded CPU engines they divide; the
 * adapter's are whatever Dawn + lavapipe reach with all the cores it uses.
 */

export interface Peaks {
  cpu: { fmaGflops: number; wasmSimdGflops: number; copyGbps: number };
  /** null when no adapter was found, or its measurement failed (then `adapterError` says why). */
  adapter: AdapterPeaks | null;
  adapterError?: string;
}

export async function measurePeaks(quick: boolean, withAdapter: boolean): Promise<Peaks> {
  const cpu = { fmaGflops: NATIVE_FMA_GFLOPS_PER_CORE, wasmSimdGflops: measureWasmSimdGflops(quick), copyGbps: measureCopyGbps(quick) };
  if (!withAdapter) return { cpu, adapter: null, adapterError: 'not measured: no WebGPU backend in this run' };
  try {
    return { cpu, adapter: await measureAdapterPeaks(quick) };
  } catch (e) {
    return { cpu, adapter: null, adapterError: (e as Error).message };
  }
}

/** WebGPU backends (ours, tfjs-webgpu, gpu.js 'webgpu') run on the adapter; every other backend on one CPU core. */
const onAdapter = (backend: string) => backend === 'webgpu';

/** The record's figure over its device's peak; null when the figure or the peak is missing. */
export function peakFraction(r: Pick<BenchRecord, 'backend' | 'gflops' | 'gbps'>, peaks: Peaks): number | null {
  const device = onAdapter(r.backend) ? peaks.adapter : peaks.cpu;
  if (!device) return null;
  if (r.gflops !== null) return r.gflops / device.fmaGflops;
  if (r.gbps !== null) return r.gbps / device.copyGbps;
  return null;
}

/** The peaks as records of their own (suite "peak", engine "hardware"), for the table and the JSON file. */
export function peakRecords(peaks: Peaks): BenchRecord[] {
  const row = (op: string, shape: string, backend: string, gflops: number | null, gbps: number | null, peak_fraction: number | null): BenchRecord => ({
    suite: 'peak',
    op,
    shape,
    backend,
    engine: 'hardware',
    dtype: 'float32',
    ms_median: null,
    first_ms: null,
    gflops,
    gbps,
    peak_fraction,
  });
  const { cpu, adapter } = peaks;
  return [
    row('fma', 'native, 1 core (constant from peers.md)', 'cpu', cpu.fmaGflops, null, 1),
    row('fma', 'wasm SIMD f32x4 mul+add, 1 core', 'cpu', cpu.wasmSimdGflops, null, cpu.wasmSimdGflops / cpu.fmaGflops),
    row('copy', 'Float32Array.set, 1 core', 'cpu', null, cpu.copyGbps, 1),
    ...(adapter
      ? [row('fma', 'WGSL vec4 fma chains', 'webgpu', adapter.fmaGflops, null, 1), row('copy', 'WGSL vec4 copy, 64 MiB', 'webgpu', null, adapter.copyGbps, 1)]
      : [{ ...row('fma', 'WGSL', 'webgpu', null, null, null), error: peaks.adapterError ?? 'no adapter' }]),
  ];
}
