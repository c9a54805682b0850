import type { Kernel, View } from '../../backend.js';
import type { TypedArray } from '../../dtype.js';
import { dataOf } from './storage.js';
import { elementOffsets } from './strided.js';
import { createWasmBlockKernel } from './wasm/block-kernel.js';

/*
 * Matrix multiplication, GotoBLAS-style. The operands are first packed, contiguous, into one float64 workspace:
 * packing reads any strides (transposed and broadcast operands cost no copy), makes the inner loop's loads
 * sequential, and converts f32 to double once instead of once per use. Cache blocks keep the panels close: a
 * panel of B (a few columns × KC) stays in L1 while every panel of an MC×KC block of A (L2) passes over it.
 *
 * A block kernel then multiplies the packed blocks. Two implement it: the WebAssembly SIMD one (the default,
 * ./wasm/block-kernel.ts) and the plain TypeScript one below, the readable reference and the fallback where
 * WebAssembly SIMD is missing. CPU_GEMM=js|wasm picks one, so benchmarks can compare them. Both add each
 * product to a zeroed accumulator in k order and add the accumulator to C once per k block, so both give the
 * same doubles, bit for bit; KC, which decides where the k blocks end, is therefore shared by both.
 */

/** A matrix read in place: element (i, j) sits at data[offset + i·rowStride + j·colStride]. */
export interface StridedMatrix {
  readonly data: TypedArray;
  readonly offset: number;
  readonly rowStride: number;
  readonly colStride: number;
}

/** The k block: every kernel must use this depth, since it decides the rounding. */
export const KC = 256;

/**
 * Multiplies packed blocks. Panels of A hold `rows` rows and panels of B `columns` columns; `mc` and `nc` (their
 * multiples) are the block sizes it prefers.
 */
export interface BlockKernel {
  readonly rows: number;
  readonly columns: number;
  readonly mc: number;
  readonly nc: number;
  /**
   * A workspace with room for a packed B block of `kc`×`ncMax` at 0, then a packed A block of `kc`×`mcMax`,
   * both counts multiples of the panel sizes. A later call may replace the array.
   */
  workspace(kc: number, mcMax: number, ncMax: number): Float64Array;
  /** Packs like `packPanels` into the workspace, only faster; false where it cannot, and the driver packs instead. */
  pack?(src: TypedArray, start: number, laneStride: number, depthStride: number, width: number, lanes: number, depth: number, at: number): boolean;
  /** C[mc×nc] += (packed A block at `aAt`)·(packed B block at 0), over `kc` steps; C is row-major with row stride `ldc`. */
  multiplyBlock(kc: number, mc: number, nc: number, aAt: number, c: Float64Array, cAt: number, ldc: number): void;
}

const roundUp = (x: number, step: number) => Math.ceil(x / step) * step;

/**
 * C += A·B, with A m×k, B k×n, and C a row-major m×n block of `c` starting at `cOffset` with row stride `ldc`.
 * C is float64 so that sums over k blocks (and over the calls that conv makes) round only once, on store.
 */
export function gemmAccumulate(m: number, n: number, k: number, a: StridedMatrix, b: StridedMatrix, c: Float64Array, cOffset: number, ldc: number): void {
  gemmAccumulateWith(selectedKernel, m, n, k, a, b, c, cOffset, ldc);
}

/** `gemmAccumulate` with a given block kernel. */
export function gemmAccumulateWith(kernel: BlockKernel, m: number, n: number, k: number, a: StridedMatrix, b: StridedMatrix, c: Float64Array, cOffset: number, ldc: number): void {
  if (m === 0 || n === 0 || k === 0) return;
  const { rows, columns, mc: MC, nc: NC } = kernel;
  const kcMax = Math.min(KC, k);
  const mcMax = Math.min(MC, roundUp(m, rows));
  const ncMax = Math.min(NC, roundUp(n, columns));
  const w = kernel.workspace(kcMax, mcMax, ncMax);
  const aBlock = kcMax * ncMax; // the packed A block follows the packed B block
  for (let j0 = 0; j0 < n; j0 += NC) {
    const nc = Math.min(NC, n - j0);
    for (let p0 = 0; p0 < k; p0 += KC) {
      const kc = Math.min(KC, k - p0);
      pack(kernel, b.data, b.offset + p0 * b.rowStride + j0 * b.colStride, b.colStride, b.rowStride, columns, nc, kc, w, 0);
      for (let i0 = 0; i0 < m; i0 += MC) {
        const mc = Math.min(MC, m - i0);
        pack(kernel, a.data, a.offset + i0 * a.rowStride + p0 * a.colStride, a.rowStride, a.colStride, rows, mc, kc, w, aBlock);
        kernel.multiplyBlock(kc, mc, nc, aBlock, c, cOffset + i0 * ldc + j0, ldc);
      }
    }
  }
}

/** Packs with the kernel's own packer where it has one that takes these strides, else with `packPanels`. */
function pack(kernel: BlockKernel, src: TypedArray, start: number, laneStride: number, depthStride: number, width: number, lanes: number, depth: number, w: Float64Array, at: number): void {
  if (!kernel.pack?.(src, start, laneStride, depthStride, width, lanes, depth, at)) packPanels(src, start, laneStride, depthStride, width, lanes, depth, w, at);
}

/**
 * Packs `lanes` × `depth` elements into panels of `width` lanes: panel by panel, depth-major, lanes innermost,
 * the last panel padded with zeros. A lane steps by `laneStride` in the source and depth by `depthStride`
 * (A: lanes are rows, depth is k; B: lanes are columns, depth is k).
 */
function packPanels(src: TypedArray, start: number, laneStride: number, depthStride: number, width: number, lanes: number, depth: number, dst: Float64Array, at: number): void {
  for (let l0 = 0; l0 < lanes; l0 += width) {
    const live = Math.min(width, lanes - l0);
    const panelStart = start + l0 * laneStride;
    for (let p = 0; p < depth; p++, at += width) {
      const from = panelStart + p * depthStride;
      for (let l = 0; l < live; l++) dst[at + l] = src[from + l * laneStride]!;
      for (let l = live; l < width; l++) dst[at + l] = 0;
    }
  }
}

/*
 * The reference block kernel. V8 emits scalar code with a bounds check on every typed-array load, so speed comes
 * from doing many multiply-adds per load: a 4×4 tile of C lives in sixteen local variables while the k loop
 * streams a 4-wide panel of A and a 4-wide panel of B.
 */
const TILE = 4; // the register tile is TILE × TILE
let referenceWorkspace = new Float64Array(0);
const edgeTile = new Float64Array(TILE * TILE);

export const referenceBlockKernel: BlockKernel = {
  rows: TILE,
  columns: TILE,
  mc: 64,
  nc: 512,
  workspace(kc, mcMax, ncMax) {
    if (referenceWorkspace.length < kc * (ncMax + mcMax)) referenceWorkspace = new Float64Array(kc * (ncMax + mcMax));
    return referenceWorkspace;
  },
  multiplyBlock(kc, mc, nc, aAt, c, cAt, ldc) {
    const w = referenceWorkspace;
    for (let jr = 0; jr < nc; jr += TILE) {
      for (let ir = 0; ir < mc; ir += TILE) {
        const at = cAt + ir * ldc + jr;
        if (ir + TILE <= mc && jr + TILE <= nc) {
          tile4x4(kc, w, aAt + ir * kc, jr * kc, c, at, ldc);
        } else {
          // A ragged edge: compute the full tile (the panels are zero-padded) and keep the part inside C.
          edgeTile.fill(0);
          tile4x4(kc, w, aAt + ir * kc, jr * kc, edgeTile, 0, TILE);
          const rows = Math.min(TILE, mc - ir);
          const cols = Math.min(TILE, nc - jr);
          for (let r = 0; r < rows; r++) for (let q = 0; q < cols; q++) c[at + r * ldc + q] += edgeTile[r * TILE + q]!;
        }
      }
    }
  },
};

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

/** The kernel CPU_GEMM names (default wasm), falling back to the reference where WebAssembly SIMD is missing. */
function kernelFromEnv(choice = process.env.CPU_GEMM ?? 'wasm'): BlockKernel {
  if (choice === 'js') return referenceBlockKernel;
  if (choice === 'wasm') return createWasmBlockKernel() ?? referenceBlockKernel;
  throw new Error(`CPU_GEMM must be 'js' or 'wasm', not '${choice}'`);
}

const selectedKernel = kernelFromEnv();

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
