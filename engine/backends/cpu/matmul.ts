import type { Kernel, View } from '../../backend.js';
import type { TypedArray } from '../../dtype.js';
import { dataOf } from './storage.js';
import { elementOffsets } from './strided.js';

/*
 * Matrix multiplication, GotoBLAS-style in plain TypeScript. V8 emits scalar code with a bounds check on every
 * typed-array load, so speed comes from doing many multiply-adds per load: a 4×4 tile of C lives in sixteen
 * local variables while the k loop streams a 4-wide column panel of A and a 4-wide row panel of B. The panels
 * are first packed, contiguous, into one float64 workspace: packing reads any strides (transposed and
 * broadcast operands cost no copy), makes the inner loop's loads sequential, and converts f32 to double once
 * instead of once per use. Cache blocks keep the panels close: a 4×KC panel of B (8 KiB) stays in L1 while
 * every A panel of an MC×KC block (128 KiB, L2) passes over it.
 */

/** A matrix read in place: element (i, j) sits at data[offset + i·rowStride + j·colStride]. */
export interface StridedMatrix {
  readonly data: TypedArray;
  readonly offset: number;
  readonly rowStride: number;
  readonly colStride: number;
}

const TILE = 4; // the register tile is TILE × TILE
const KC = 256;
const MC = 64;
const NC = 512;

let workspace = new Float64Array(0);
const edgeTile = new Float64Array(TILE * TILE);

const roundUp = (x: number, step: number) => Math.ceil(x / step) * step;

/**
 * C += A·B, with A m×k, B k×n, and C a row-major m×n block of `c` starting at `cOffset` with row stride `ldc`.
 * C is float64 so that sums over k blocks (and over the calls that conv makes) round only once, on store.
 */
export function gemmAccumulate(m: number, n: number, k: number, a: StridedMatrix, b: StridedMatrix, c: Float64Array, cOffset: number, ldc: number): void {
  if (m === 0 || n === 0 || k === 0) return;
  const kcMax = Math.min(KC, k);
  const ncMax = Math.min(NC, roundUp(n, TILE));
  const mcMax = Math.min(MC, roundUp(m, TILE));
  if (workspace.length < kcMax * (ncMax + mcMax)) workspace = new Float64Array(kcMax * (ncMax + mcMax));
  const w = workspace;
  const aBlock = kcMax * ncMax; // the packed A block follows the packed B block
  for (let j0 = 0; j0 < n; j0 += NC) {
    const nc = Math.min(NC, n - j0);
    for (let p0 = 0; p0 < k; p0 += KC) {
      const kc = Math.min(KC, k - p0);
      packPanels(b.data, b.offset + p0 * b.rowStride + j0 * b.colStride, b.colStride, b.rowStride, nc, kc, w, 0);
      for (let i0 = 0; i0 < m; i0 += MC) {
        const mc = Math.min(MC, m - i0);
        packPanels(a.data, a.offset + i0 * a.rowStride + p0 * a.colStride, a.rowStride, a.colStride, mc, kc, w, aBlock);
        for (let jr = 0; jr < nc; jr += TILE) {
          for (let ir = 0; ir < mc; ir += TILE) {
            const at = cOffset + (i0 + ir) * ldc + j0 + jr;
            if (ir + TILE <= mc && jr + TILE <= nc) {
              tile4x4(kc, w, aBlock + ir * kc, jr * kc, c, at, ldc);
            } else {
              // A ragged edge: compute the full tile (the panels are zero-padded) and keep the part inside C.
              edgeTile.fill(0);
              tile4x4(kc, w, aBlock + ir * kc, jr * kc, edgeTile, 0, TILE);
              const rows = Math.min(TILE, mc - ir);
              const cols = Math.min(TILE, nc - jr);
              for (let r = 0; r < rows; r++) for (let q = 0; q < cols; q++) c[at + r * ldc + q] += edgeTile[r * TILE + q]!;
            }
          }
        }
      }
    }
  }
}

/**
 * Packs `lanes` × `depth` elements into panels of TILE lanes: panel by panel, depth-major, lanes innermost, the
 * last panel padded with zeros. A lane steps by `laneStride` in the source and depth by `depthStride`
 * (A: lanes are rows, depth is k; B: lanes are columns, depth is k).
 */
function packPanels(src: TypedArray, start: number, laneStride: number, depthStride: number, lanes: number, depth: number, dst: Float64Array, at: number): void {
  for (let l0 = 0; l0 < lanes; l0 += TILE) {
    const live = Math.min(TILE, lanes - l0);
    const panelStart = start + l0 * laneStride;
    for (let p = 0; p < depth; p++) {
      const from = panelStart + p * depthStride;
      for (let l = 0; l < TILE; l++) dst[at++] = l < live ? src[from + l * laneStride]! : 0;
    }
  }
}

/** C[4×4] += (A panel)ᵀ-by-(B panel) over `kc` steps; both panels live in `w`. */
function tile4x4(kc: number, w: Float64Array, aAt: number, bAt: number, c: Float64Array, cAt: number, ldc: number): void {
  let c00 = 0, c01 = 0, c02 = 0, c03 = 0;
  let c10 = 0, c11 = 0, c12 = 0, c13 = 0;
  let c20 = 0, c21 = 0, c22 = 0, c23 = 0;
  let c30 = 0, c31 = 0, c32 = 0, c33 = 0;
  for (let p = 0, a = aAt, b = bAt; p < kc; p++, a += TILE, b += TILE) {
    const a0 = w[a]!, a1 = w[a + 1]!, a2 = w[a + 2]!, a3 = w[a + 3]!;
    const b0 = w[b]!, b1 = w[b + 1]!, b2 = w[b + 2]!, b3 = w[b + 3]!;
    c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
    c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
    c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3;
    c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3;
  }
  let o = cAt;
  c[o] += c00; c[o + 1] += c01; c[o + 2] += c02; c[o + 3] += c03; o += ldc;
  c[o] += c10; c[o + 1] += c11; c[o + 2] += c12; c[o + 3] += c13; o += ldc;
  c[o] += c20; c[o + 1] += c21; c[o + 2] += c22; c[o + 3] += c23; o += ldc;
  c[o] += c30; c[o + 1] += c31; c[o + 2] += c32; c[o + 3] += c33;
}

/**
 * The float64 buffer a kernel accumulates into: the output's own storage when it is float64, else a scratch
 * buffer that `store` copies out, rounding each element once. `base` is where the output's element 0 sits.
 */
export function float64Accumulator(out: View): { acc: Float64Array; base: number; store: () => void } {
  const dst = dataOf(out);
  if (dst instanceof Float64Array) {
    dst.fill(0, out.offset, out.offset + out.shape.reduce((p, s) => p * s, 1));
    return { acc: dst, base: out.offset, store: () => {} };
  }
  const acc = new Float64Array(out.shape.reduce((p, s) => p * s, 1));
  return { acc, base: 0, store: () => dst.set(acc, out.offset) };
}

/** The leading (batch) dims of a view, for walking its matrices. */
function batchView(v: View): View {
  return { storage: v.storage, dtype: v.dtype, offset: v.offset, shape: v.shape.slice(0, -2), strides: v.strides.slice(0, -2) };
}

/** [batch..., M, K] × [batch..., K, N] with broadcast batch dims; operands of any strides, read in place. */
const matmul: Kernel = ([a, b], [out]) => {
  const rank = out!.shape.length;
  const m = out!.shape[rank - 2]!;
  const n = out!.shape[rank - 1]!;
  const k = a!.shape[a!.shape.length - 1]!;
  const [aStarts, bStarts] = elementOffsets([batchView(a!), batchView(b!)], out!.shape.slice(0, -2)) as [Int32Array, Int32Array];
  const { acc, base, store } = float64Accumulator(out!);
  const aData = dataOf(a!);
  const bData = dataOf(b!);
  const [aRow, aCol] = a!.strides.slice(-2) as [number, number];
  const [bRow, bCol] = b!.strides.slice(-2) as [number, number];
  for (let t = 0; t < aStarts.length; t++) {
    gemmAccumulate(
      m, n, k,
      { data: aData, offset: aStarts[t]!, rowStride: aRow, colStride: aCol },
      { data: bData, offset: bStarts[t]!, rowStride: bRow, colStride: bCol },
      acc, base + t * m * n, n,
    );
  }
  store();
};

export const matmulKernels: Record<string, Kernel> = { matmul };
