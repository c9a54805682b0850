/*
 * The ops that every engine runs, ours and the peers alike, so that rows line up by (op, shape). Each engine
 * implements these specs in its own file; this one only says what is computed and how much work it is.
 *
 * Work is counted the same way for all engines: 2 FLOPs per multiply-add of a matmul or convolution, and for
 * memory-bound ops (softmax, layer norm) the bytes that must cross memory at least (each input and output once).
 */

export type OpSpec =
  /** [batch,] [m,k] × [k,n]; batch 1 means plain 2-D operands. */
  | { op: 'matmul'; batch: number; m: number; k: number; n: number }
  /** NCHW input, 3×3 kernel, padding 1 (same size out), no bias. */
  | { op: 'conv2d'; batch: number; channels: number; size: number }
  /** Over the last axis of a [rows, cols] input. */
  | { op: 'softmax'; rows: number; cols: number }
  /** Over the last axis, with a learned scale and bias of [cols]. */
  | { op: 'layernorm'; rows: number; cols: number }
  /** softmax(q·kᵀ/√d)·v for q, k, v of [batch, heads, tokens, dim]. */
  | { op: 'attention'; batch: number; heads: number; tokens: number; dim: number };

const fmt = (shape: readonly number[]) => `[${shape.join(',')}]`;

export const matmulShapes = (s: Extract<OpSpec, { op: 'matmul' }>) =>
  s.batch === 1 ? { a: [s.m, s.k], b: [s.k, s.n] } : { a: [s.batch, s.m, s.k], b: [s.batch, s.k, s.n] };

/** The spec's shape label, written like bench/suites/kernels.ts writes it so that the same case joins. */
export function shapeLabel(s: OpSpec): string {
  switch (s.op) {
    case 'matmul': {
      const { a, b } = matmulShapes(s);
      return `${fmt(a)}×${fmt(b)}`;
    }
    case 'conv2d':
      return `x${fmt([s.batch, s.channels, s.size, s.size])} w${fmt([s.channels, s.channels, 3, 3])} pad 1`;
    case 'softmax':
      return `${fmt([s.rows, s.cols])} dim -1`;
    case 'layernorm':
      return `${fmt([s.rows, s.cols])} over ${s.cols}`;
    case 'attention':
      return `q,k,v${fmt([s.batch, s.heads, s.tokens, s.dim])}`;
  }
}

/** Floating-point operations per call; null for the memory-bound ops, whose figure is their bandwidth. */
export function flopsOf(s: OpSpec): number | null {
  switch (s.op) {
    case 'matmul':
      return 2 * s.batch * s.m * s.k * s.n;
    case 'conv2d':
      return 2 * s.batch * s.channels * s.channels * 9 * s.size * s.size;
    case 'attention':
      return 4 * s.batch * s.heads * s.tokens * s.tokens * s.dim;
    case 'softmax':
    case 'layernorm':
      return null;
  }
}

/** float32 bytes read and written at least once per call. */
export function bytesOf(s: OpSpec): number {
  switch (s.op) {
    case 'matmul':
      return 4 * s.batch * (s.m * s.k + s.k * s.n + s.m * s.n);
    case 'conv2d':
      return 4 * (2 * s.batch * s.channels * s.size * s.size + s.channels * s.channels * 9);
    case 'softmax':
      return 4 * 2 * s.rows * s.cols;
    case 'layernorm':
      return 4 * (2 * s.rows * s.cols + 2 * s.cols);
    case 'attention':
      return 4 * 4 * s.batch * s.heads * s.tokens * s.dim;
  }
}

/**
 * The full list: the shapes of ../shared/spec/peers.md, plus a LightningDiT-sized projection (8 images × 256
 * tokens, width 384, MLP ratio 4) and a layer norm over the same tokens. --quick uses small shapes so that the
 * slowest peers (tfjs-cpu, gpu.js) still finish in seconds.
 */
export function opSpecs(quick: boolean): OpSpec[] {
  if (quick) {
    return [
      { op: 'matmul', batch: 1, m: 256, k: 256, n: 256 },
      { op: 'matmul', batch: 8, m: 256, k: 64, n: 256 },
      { op: 'conv2d', batch: 1, channels: 32, size: 32 },
      { op: 'softmax', rows: 2048, cols: 256 },
      { op: 'layernorm', rows: 2048, cols: 384 },
      { op: 'attention', batch: 1, heads: 4, tokens: 128, dim: 64 },
    ];
  }
  return [
    { op: 'matmul', batch: 1, m: 256, k: 256, n: 256 },
    { op: 'matmul', batch: 1, m: 512, k: 512, n: 512 },
    { op: 'matmul', batch: 1, m: 1024, k: 1024, n: 1024 },
    { op: 'matmul', batch: 1, m: 8 * 256, k: 384, n: 1536 },
    { op: 'matmul', batch: 8, m: 256, k: 64, n: 256 },
    { op: 'conv2d', batch: 8, channels: 64, size: 32 },
    { op: 'softmax', rows: 16384, cols: 256 },
    { op: 'layernorm', rows: 8 * 256, cols: 384 },
    { op: 'attention', batch: 1, heads: 8, tokens: 256, dim: 64 },
  ];
}
