import { getBackend } from '../../backend.js';
import type { GpuStorage } from './buffers.js';
import { webgpu } from './context.js';
import { fill } from './creation.js';
import { gemm } from './matmul.js';
import { gpuTime, timestampsAvailable } from './timing.js';
import { type MatmulVariant, variantName } from './matmul-shaders.js';
import { TUNING_TABLE, adapterClass, forceMatmulVariant, rememberMatmulVariant, runsOn, shapeClass } from './tuning.js';

/**
 * The autotuner: times each candidate variant of the adapter's class on a product of the given shape, and
 * remembers the fastest for that shape class (see tuning.ts). Candidates are timed interleaved, round after
 * round, and ranked by their median, so that a burst of load on a shared machine hits all of them alike. Times
 * are device time from timestamp queries where the adapter has them, else wall clock around a synced call.
 */

export interface MatmulShape {
  m: number;
  n: number;
  k: number;
  /** Independent products in one dispatch (default 1). */
  batch?: number;
}

export interface TuneOptions {
  /** Variants to try (default: the adapter class's candidates in TUNING_TABLE). */
  candidates?: MatmulVariant[];
  /** Timed rounds after one warm-up call per candidate (default 5). */
  rounds?: number;
  /** Keep the winner for the shape class (default true). */
  remember?: boolean;
}

export interface TuneResult {
  shape: MatmulShape;
  shapeClass: string;
  /** Candidates fastest first, with their median time per product call. */
  ranking: { variant: MatmulVariant; name: string; ms: number }[];
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export async function tuneMatmul(shape: MatmulShape, opts: TuneOptions = {}): Promise<TuneResult> {
  const { adapter, queue } = webgpu();
  const { m, n, k, batch = 1 } = shape;
  const candidates = (opts.candidates ?? TUNING_TABLE[adapterClass(adapter)].candidates).filter((v) => runsOn(v, adapter));
  const backend = getBackend('webgpu');
  const buffer = (length: number, value: number) => {
    const storage = backend.alloc('float32', length) as GpuStorage;
    fill({ storage, dtype: 'float32', shape: [length], strides: [1], offset: 0 }, value);
    return storage;
  };
  const a = buffer(batch * m * k, 0.5);
  const b = buffer(batch * k * n, 0.25);
  const c = buffer(batch * m * n, 0);
  const record = (v: MatmulVariant) => {
    forceMatmulVariant(v);
    try {
      gemm({
        m, n, k,
        a: { storage: a, offset: 0, rowStride: k, colStride: 1 },
        b: { storage: b, offset: 0, rowStride: n, colStride: 1 },
        c: { storage: c, offset: 0, ldc: n },
        batch: { shape: [batch], strides: [[m * k], [k * n], [m * n]] },
      });
    } finally {
      forceMatmulVariant(undefined);
    }
  };
  const call = async (v: MatmulVariant) => {
    if (timestampsAvailable()) return gpuTime(() => (record(v), queue.sync()));
    await queue.sync();
    const start = performance.now();
    record(v);
    await queue.sync();
    return performance.now() - start;
  };
  try {
    const times = candidates.map(() => [] as number[]);
    for (const v of candidates) await call(v);
    for (let round = 0; round < (opts.rounds ?? 5); round++) {
      for (const [i, v] of candidates.entries()) times[i]!.push(await call(v));
    }
    const ranking = candidates
      .map((variant, i) => ({ variant, name: variantName(variant), ms: median(times[i]!) }))
      .sort((x, y) => x.ms - y.ms);
    const cls = shapeClass(m, n, k);
    if (opts.remember ?? true) rememberMatmulVariant(adapter, cls, ranking[0]!.variant);
    return { shape, shapeClass: cls, ranking };
  } finally {
    for (const s of [a, b, c]) backend.release(s);
  }
}

/** A tuning result in one line: the winner and how the others compare. */
export function describeTuneResult(r: TuneResult): string {
  const { m, n, k, batch = 1 } = r.shape;
  const best = r.ranking[0]!;
  const rest = r.ranking.slice(1).map((x) => `${x.name} ×${(x.ms / best.ms).toFixed(2)}`);
  return `matmul ${batch}×[${m},${k}]×[${k},${n}] (${r.shapeClass}): ${best.name} ${best.ms.toFixed(2)} ms${rest.length ? `; ${rest.join(', ')}` : ''}`;
}

/**
 * Products of the shapes this project runs, one per shape class that matters: square (the matmul benchmark),
 * a 3×3 convolution's forward GEMM (VA-VAE, 64 channels at 32×32, batch 8), a weight gradient (few tiles of C,
 * long K), a transformer's linear layer (LightningDiT tokens × width).
 */
export const COMMON_SHAPES: readonly MatmulShape[] = [
  { m: 1024, n: 1024, k: 1024 },
  { m: 256, n: 256, k: 256 },
  { m: 64, n: 1024, k: 576, batch: 8 },
  { m: 64, n: 576, k: 8192 },
  { m: 4096, n: 1152, k: 384 },
];

/** Tunes every common shape on this adapter and remembers the winners; one line per shape, for logs. */
export async function tuneCommonShapes(opts: TuneOptions = {}): Promise<string[]> {
  const lines: string[] = [];
  for (const shape of COMMON_SHAPES) lines.push(describeTuneResult(await tuneMatmul(shape, opts)));
  return lines;
}
