import type { Kernel, View } from '../../backend.js';
import { broadcastStrides } from '../cpu/strided.js';
import type { GpuStorage } from './buffers.js';
import { webgpu } from './context.js';
import { coalesce, offsetsWgsl, padList } from './layout.js';
import { ParamLayout } from './params.js';
import { bindings } from './wgsl.js';

/**
 * Batched matrix products C = A·B on [batch..., M, K] × [batch..., K, N], operands read through their strides
 * (a transposed or broadcast operand is never copied). The same routine serves conv2d (see conv.ts), which
 * describes its operands as strided matrices too.
 *
 * Two schedules, chosen by the adapter:
 * - GPUs: a workgroup computes a BM×BN tile of C; each K step it stages a BK-deep slice of A and B in
 *   workgroup memory (coalesced loads, in the operand's contiguous direction), then every thread accumulates a
 *   TM×TN register block from vec4 reads of that slice.
 * - CPU adapters (lavapipe): workgroup memory is ordinary memory and barriers are coroutine switches, so each
 *   thread reads its operands straight from memory (the CPU's caches do the staging) into a TM×TN register block.
 * Shapes are uniform parameters; tile sizes are constants of the shader.
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

const params = new ParamLayout({
  M: 'u32',
  N: 'u32',
  K: 'u32',
  batchStart: 'u32',
  offA: 'u32',
  offB: 'u32',
  offC: 'u32',
  ldc: 'u32',
  sAm: 'u32',
  sAk: 'u32',
  sBk: 'u32',
  sBn: 'u32',
  shape: 'list',
  s0: 'list',
  s1: 'list',
  s2: 'list',
});

interface Tiling {
  BM: number;
  BN: number;
  BK: number;
  TM: number;
  TN: number;
}

const GPU_TILING: Tiling = { BM: 64, BN: 64, BK: 16, TM: 4, TN: 4 };
const CPU_TILING: Tiling = { BM: 32, BN: 32, BK: 0, TM: 4, TN: 4 };

/** Which schedule to use; tests set it to exercise both on one adapter. */
let forcedSchedule: 'gpu' | 'cpu' | undefined;
export function forceMatmulSchedule(s: 'gpu' | 'cpu' | undefined): void {
  forcedSchedule = s;
}

const batchOffsets = (rank: number) =>
  offsetsWgsl(rank, 'batch', 'p.shape', [
    { name: 'baseA', init: 'p.offA', strides: 'p.s0' },
    { name: 'baseB', init: 'p.offB', strides: 'p.s1' },
    { name: 'baseC', init: 'p.offC', strides: 'p.s2' },
  ]);

/** Shared by both schedules: write (or add) the TM×TN block at (row0, col0) of C, inside the bounds. */
function storeBlock(t: Tiling, accumulate: boolean): string {
  return `
  for (var i = 0u; i < ${t.TM}u; i++) {
    let row = row0 + i;
    if (row >= p.M) { break; }
    for (var j = 0u; j < ${t.TN}u; j++) {
      let col = col0 + j;
      let at = baseC + row * p.ldc + col;
      if (col < p.N) { C[at] = ${accumulate ? 'C[at] + ' : ''}acc[i][j]; }
    }
  }
`;
}

function tiledShader(t: Tiling, batchRank: number, accumulate: boolean, aRowsContiguous: boolean, bColsContiguous: boolean): string {
  const threadsX = t.BN / t.TN;
  const threadsY = t.BM / t.TM;
  const threads = threadsX * threadsY;
  const aLoads = (t.BM * t.BK) / threads;
  const bLoads = (t.BK * t.BN) / threads;
  // Consecutive threads load consecutive addresses: along k when A's rows are contiguous, else along m.
  const aIndex = aRowsContiguous ? `let mm = e / ${t.BK}u; let kk = e % ${t.BK}u;` : `let kk = e / ${t.BM}u; let mm = e % ${t.BM}u;`;
  const bIndex = bColsContiguous ? `let kk = e / ${t.BN}u; let nn = e % ${t.BN}u;` : `let nn = e / ${t.BK}u; let kk = e % ${t.BK}u;`;
  return (
    params.wgsl() +
    bindings([['A', 'f32'], ['B', 'f32']], [['C', 'f32']]) +
    `
// As[k][m] and Bs[k][n], four consecutive m (n) per vec4.
var<workgroup> As: array<vec4<f32>, ${(t.BK * t.BM) / 4}>;
var<workgroup> Bs: array<vec4<f32>, ${(t.BK * t.BN) / 4}>;

@compute @workgroup_size(${threadsX}, ${threadsY})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(local_invocation_index) li: u32) {
  let batch = wid.z + p.batchStart;
${batchOffsets(batchRank)}
  let tileRow = wid.y * ${t.BM}u;
  let tileCol = wid.x * ${t.BN}u;
  var acc: array<vec4<f32>, ${t.TM}>;
  for (var k0 = 0u; k0 < p.K; k0 += ${t.BK}u) {
    for (var l = 0u; l < ${aLoads}u; l++) {
      let e = li + l * ${threads}u;
      ${aIndex}
      let gm = tileRow + mm;
      let gk = k0 + kk;
      var v = 0.0;
      if (gm < p.M && gk < p.K) { v = A[baseA + gm * p.sAm + gk * p.sAk]; }
      As[kk * ${t.BM / 4}u + mm / 4u][mm % 4u] = v;
    }
    for (var l = 0u; l < ${bLoads}u; l++) {
      let e = li + l * ${threads}u;
      ${bIndex}
      let gk = k0 + kk;
      let gn = tileCol + nn;
      var v = 0.0;
      if (gk < p.K && gn < p.N) { v = B[baseB + gk * p.sBk + gn * p.sBn]; }
      Bs[kk * ${t.BN / 4}u + nn / 4u][nn % 4u] = v;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < ${t.BK}u; kk++) {
      let a = As[kk * ${t.BM / 4}u + lid.y];
      let b = Bs[kk * ${t.BN / 4}u + lid.x];
      acc[0] += a.x * b;
      acc[1] += a.y * b;
      acc[2] += a.z * b;
      acc[3] += a.w * b;
    }
    workgroupBarrier();
  }
  let row0 = tileRow + lid.y * ${t.TM}u;
  let col0 = tileCol + lid.x * ${t.TN}u;
${storeBlock(t, accumulate)}
}
`
  );
}

function directShader(t: Tiling, batchRank: number, accumulate: boolean): string {
  const threadsX = t.BN / t.TN;
  const threadsY = t.BM / t.TM;
  return (
    params.wgsl() +
    bindings([['A', 'f32'], ['B', 'f32']], [['C', 'f32']]) +
    `
@compute @workgroup_size(${threadsX}, ${threadsY})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let batch = wid.z + p.batchStart;
${batchOffsets(batchRank)}
  let row0 = wid.y * ${t.BM}u + lid.y * ${t.TM}u;
  let col0 = wid.x * ${t.BN}u + lid.x * ${t.TN}u;
  // Rows and columns past the edge read row (column) 0 instead and are never stored.
  var aRow: array<u32, ${t.TM}>;
  for (var i = 0u; i < ${t.TM}u; i++) { aRow[i] = baseA + select(0u, row0 + i, row0 + i < p.M) * p.sAm; }
  var bCol: array<u32, ${t.TN}>;
  for (var j = 0u; j < ${t.TN}u; j++) { bCol[j] = baseB + select(0u, col0 + j, col0 + j < p.N) * p.sBn; }
  var acc: array<vec4<f32>, ${t.TM}>;
  for (var k = 0u; k < p.K; k++) {
    let kb = k * p.sBk;
    let b = vec4<f32>(B[bCol[0] + kb], B[bCol[1] + kb], B[bCol[2] + kb], B[bCol[3] + kb]);
    let ka = k * p.sAk;
    acc[0] += A[aRow[0] + ka] * b;
    acc[1] += A[aRow[1] + ka] * b;
    acc[2] += A[aRow[2] + ka] * b;
    acc[3] += A[aRow[3] + ka] * b;
  }
${storeBlock(t, accumulate)}
}
`
  );
}

/** Records C = A·B for every batch (C's old contents are overwritten). */
export function gemm(g: GemmProblem): void {
  const { queue, adapter } = webgpu();
  const count = g.batch.shape.reduce((x, y) => x * y, 1);
  if (g.m === 0 || g.n === 0 || count === 0) return;
  const schedule = forcedSchedule ?? (adapter.isCpu ? 'cpu' : 'gpu');
  const t = schedule === 'cpu' ? CPU_TILING : GPU_TILING;
  const rank = g.batch.shape.length;
  const aRowsContiguous = Math.abs(g.a.colStride) <= Math.abs(g.a.rowStride);
  const bColsContiguous = Math.abs(g.b.colStride) <= Math.abs(g.b.rowStride);
  const accumulate = g.accumulate ?? false;
  const variant = `r${rank}${accumulate ? '+' : ''}`;
  const key = schedule === 'cpu' ? `matmul:direct:${variant}` : `matmul:tiled:${variant}:${+aRowsContiguous}${+bColsContiguous}`;
  const [s0, s1, s2] = g.batch.strides;
  // At most 65535 batches per dispatch (the z limit); larger batches go in several dispatches.
  for (let start = 0; start < count; start += 65535) {
    queue.dispatch({
      key,
      code: () => (schedule === 'cpu' ? directShader(t, rank, accumulate) : tiledShader(t, rank, accumulate, aRowsContiguous, bColsContiguous)),
      reads: [g.a.storage, g.b.storage],
      writes: [g.c.storage],
      params: params.pack({
        M: g.m,
        N: g.n,
        K: g.k,
        batchStart: start,
        offA: g.a.offset,
        offB: g.b.offset,
        offC: g.c.offset,
        ldc: g.c.ldc,
        sAm: g.a.rowStride >>> 0,
        sAk: g.a.colStride >>> 0,
        sBk: g.b.rowStride >>> 0,
        sBn: g.b.colStride >>> 0,
        shape: padList(g.batch.shape),
        s0: padList(s0.map((s) => s >>> 0)),
        s1: padList(s1.map((s) => s >>> 0)),
        s2: padList(s2.map((s) => s >>> 0)),
      }),
      workgroups: [Math.ceil(g.n / t.BN), Math.ceil(g.m / t.BM), Math.min(65535, count - start)],
      cost: (g.m * g.n * Math.max(1, g.k) * Math.min(65535, count - start)) / 8,
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
  gemm({
    m,
    n,
    k,
    a: { storage: a!.storage as GpuStorage, offset: a!.offset, rowStride: aRow, colStride: aCol },
    b: { storage: b!.storage as GpuStorage, offset: b!.offset, rowStride: bRow, colStride: bCol },
    c: { storage: out!.storage as GpuStorage, offset: out!.offset, ldc: n },
    batch: { shape: walk.shape, strides: walk.strides as [number[], number[], number[]] },
  });
};

export const matmulKernels: Record<string, Kernel> = { matmul };
