import type { Kernel, View } from '../../backend.js';
import { broadcastStrides } from '../cpu/strided.js';
import type { GpuStorage } from './buffers.js';
import { webgpu } from './context.js';
import { coalesce } from './layout.js';
import { EPILOGUE_WORDS, type MatmulEpilogue, matmulParams, matmulShader, tileOf, variantName } from './matmul-shaders.js';
import { MAX_RANK } from './params.js';
import { matmulVariant } from './tuning.js';

/**
 * Batched matrix products C = A·B on [batch..., M, K] × [batch..., K, N], operands read through their strides
 * (a transposed or broadcast operand is never copied). The same routine serves conv2d (see conv.ts), which
 * describes its operands as strided matrices too.
 *
 * The schedule (the shader's tiling) is chosen per adapter and shape by tuning.ts; matmul-shaders.ts holds
 * their WGSL and explains them. Shapes, strides and the batch walk (padded to MAX_RANK dims, so one shader serves
 * every batch layout) are uniform parameters; tile sizes are constants of the shader.
 */

/** A matrix operand: element (i, j) of batch b sits at offset + batchOffset(b) + i·rowStride + j·colStride. */
export interface MatrixOperand {
  storage: GpuStorage;
  offset: number;
  rowStride: number;
  colStride: number;
}

export interface GemmProblem {
  m: number;
  n: number;
  k: number;
  a: MatrixOperand;
  b: MatrixOperand;
  /** C is written row-major at `offset` with row stride `ldc`, batch b at offset + batchOffset(b). */
  c: { storage: GpuStorage; offset: number; ldc: number };
  /** Batch dims (merged) with each operand's stride along them: [A, B, C]. */
  batch: { shape: number[]; strides: [number[], number[], number[]] };
  /** C += A·B instead of C = A·B (conv sums its weight gradient over chunks of the batch this way). */
  accumulate?: boolean;
}

/** An epilogue with its buffers (bound after A and B, and in place of C) and its parameter words. */
export interface BoundEpilogue {
  shader: MatmulEpilogue;
  reads: GpuStorage[];
  writes: GpuStorage[];
  words: number[];
}

/**
 * Whether the 'vec4' schedule can read this product: A contiguous along k and B along n, with K and N, every
 * offset and every other stride (batch strides included) multiples of 4, so each vec4 is four whole elements.
 */
export function vec4Aligned(g: GemmProblem): boolean {
  const four = (x: number) => x % 4 === 0;
  const [sa, sb] = g.batch.strides;
  return (
    g.a.colStride === 1 && g.b.colStride === 1 && four(g.k) && four(g.n) && four(g.a.offset) && four(g.b.offset) &&
    four(g.a.rowStride) && four(g.b.rowStride) && sa.every(four) && sb.every(four)
  );
}

/** Records C = A·B (or C += A·B) for every batch; with an epilogue, its outputs instead of C. */
export function gemm(g: GemmProblem, epilogue?: BoundEpilogue): void {
  const { queue, adapter } = webgpu();
  const count = g.batch.shape.reduce((x, y) => x * y, 1);
  if (g.m === 0 || g.n === 0 || count === 0) return;
  const variant = matmulVariant(adapter, g.m, g.n, g.k, vec4Aligned(g));
  const S = adapter.subgroupMinSize;
  const [tileRows, tileCols] = tileOf(variant, S);
  const key = `matmul:${variantName(variant)}:${S}${epilogue ? `|${epilogue.shader.key}` : ''}`;
  const words = [...(epilogue?.words ?? []), ...new Array<number>(EPILOGUE_WORDS - (epilogue?.words.length ?? 0)).fill(0)];
  const [s0, s1, s2] = g.batch.strides;
  // The walk is padded with leading size-1 dims to MAX_RANK, so that one shader serves every batch layout.
  const lead = new Array<number>(MAX_RANK - g.batch.shape.length).fill(1);
  const zeros = new Array<number>(MAX_RANK - g.batch.shape.length).fill(0);
  const list = (strides: number[]) => [...zeros, ...strides.map((s) => s >>> 0)];
  // At most 65535 batches per dispatch (the z limit); larger batches go in several dispatches.
  for (let start = 0; start < count; start += 65535) {
    const batches = Math.min(65535, count - start);
    queue.dispatch({
      key,
      code: () => matmulShader(variant, S, epilogue?.shader),
      reads: [g.a.storage, g.b.storage, ...(epilogue?.reads ?? [])],
      writes: epilogue?.writes ?? [g.c.storage],
      params: matmulParams.pack({
        M: g.m,
        N: g.n,
        K: g.k,
        batchStart: start,
        offA: g.a.offset,
        offB: g.b.offset,
        offC: g.c.offset,
        ldc: g.c.ldc,
        accumulate: g.accumulate ? 1 : 0,
        sAm: g.a.rowStride >>> 0,
        sAk: g.a.colStride >>> 0,
        sBk: g.b.rowStride >>> 0,
        sBn: g.b.colStride >>> 0,
        aRowsContiguous: Math.abs(g.a.colStride) <= Math.abs(g.a.rowStride) ? 1 : 0,
        bColsContiguous: Math.abs(g.b.colStride) <= Math.abs(g.b.rowStride) ? 1 : 0,
        shape: [...lead, ...g.batch.shape],
        s0: list(s0),
        s1: list(s1),
        s2: list(s2),
        ep0: words.slice(0, 8),
        ep1: words.slice(8),
      }),
      workgroups: [Math.ceil(g.n / tileCols), Math.ceil(g.m / tileRows), batches],
      cost: (g.m * g.n * Math.max(1, g.k) * batches) / 8,
    });
  }
}

/** The leading (batch) dims of a view. */
function batchView(v: View): View {
  return { ...v, shape: v.shape.slice(0, -2), strides: v.strides.slice(0, -2) };
}

const matmul: Kernel = ([a, b], [out]) => {
  const rank = out!.shape.length;
  const m = out!.shape[rank - 2]!;
  const n = out!.shape[rank - 1]!;
  const k = a!.shape[a!.shape.length - 1]!;
  const batchShape = out!.shape.slice(0, -2);
  const walk = coalesce(batchShape, [
    broadcastStrides(batchView(a!), batchShape),
    broadcastStrides(batchView(b!), batchShape),
    batchShape.map((_, d) => batchShape.slice(d + 1).reduce((x, y) => x * y, m * n)),
  ]);
  const [aRow, aCol] = a!.strides.slice(-2) as [number, number];
  const [bRow, bCol] = b!.strides.slice(-2) as [number, number];
  const problem: GemmProblem = {
    m,
    n,
    k,
    a: { storage: a!.storage as GpuStorage, offset: a!.offset, rowStride: aRow, colStride: aCol },
    b: { storage: b!.storage as GpuStorage, offset: b!.offset, rowStride: bRow, colStride: bCol },
    c: { storage: out!.storage as GpuStorage, offset: out!.offset, ldc: n },
    batch: { shape: walk.shape, strides: walk.strides as [number[], number[], number[]] },
  };
  // Left pending, the product can take the elementwise ops that follow it as an epilogue (fusion.ts).
  webgpu().fusion.recordMatmul(problem, out!);
};

export const matmulKernels: Record<string, Kernel> = { matmul };
