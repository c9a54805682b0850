import type { TypedArray } from '../../../dtype.js';
import type { BlockKernel } from '../matmul.js';
import { type MultiplyBlock, type PackPanels, blockFunctionName, gemmKernelModule, packFunctionName } from './gemm-kernel.js';

/*
 * The WebAssembly block kernel: the packed blocks live in the module's memory, so packing writes straight into
 * it, and one wasm call multiplies a whole block into a C block there, which JS then adds into the caller's C
 * (that array lies outside wasm memory). The add is the same `c += tile` as the reference kernel's.
 *
 * Packing goes in two steps where the operand's lanes or its depth are contiguous: JS copies each contiguous
 * run into a staging area with TypedArray.set (a native copy that also converts f32 to double), then wasm
 * gathers the panels from there. Other strides (broadcasts, say) fall back to the driver's packing in JS.
 *
 * Memory, in doubles: the packed B block (kc × ncMax), the packed A block (kc × mcMax), the C block
 * (mcMax × ncMax, row-major), then the staging area (kc × the larger of mcMax and ncMax). Growing the memory
 * detaches its old ArrayBuffer, so the view is made anew after.
 */

/** The register tile and cache blocks; `mc` must be a multiple of `rows` and `nc` of 2·`vectorsPerRow`. */
export interface WasmTiling {
  readonly rows: number;
  readonly vectorsPerRow: number;
  readonly mc: number;
  readonly nc: number;
}

/**
 * Chosen by measuring on x64 (Zen 3, V8 11): 4×4 tiles and 2×8 tiles ran alike, 8×2 about 20% slower, and 6×4
 * and 4×6 about 30% slower, since their 12 accumulators with the operands and a product overflow the 16 xmm
 * registers and spill. Other block sizes (MC 32 to 256, NC 256 to 2048) were within the noise.
 */
export const defaultTiling: WasmTiling = { rows: 4, vectorsPerRow: 2, mc: 64, nc: 512 };

const PAGE_BYTES = 65536;
const F64_BYTES = 8;
const roundUp = (x: number, step: number) => Math.ceil(x / step) * step;

/** A block kernel running in WebAssembly SIMD, or null where this engine cannot compile the module. */
export function createWasmBlockKernel(tiling: WasmTiling = defaultTiling): BlockKernel | null {
  const { rows, vectorsPerRow, mc, nc } = tiling;
  const columns = 2 * vectorsPerRow;
  if (mc % rows !== 0 || nc % columns !== 0) throw new Error(`createWasmBlockKernel: mc ${mc} must be a multiple of ${rows} and nc ${nc} of ${columns}`);
  const bytes = gemmKernelModule(rows, vectorsPerRow);
  if (typeof WebAssembly === 'undefined' || !WebAssembly.validate(bytes)) return null;
  const memory = new WebAssembly.Memory({ initial: 1 });
  const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), { gemm: { memory } });
  const multiply = instance.exports[blockFunctionName] as MultiplyBlock;
  const packers = new Map([rows, columns].map((width) => [width, instance.exports[packFunctionName(width)] as PackPanels]));
  let view = new Float64Array(memory.buffer);
  let cBlock = 0; // where the C block starts, in doubles
  let staging = 0; // where the staging area starts, in doubles

  return {
    rows,
    columns,
    mc,
    nc,
    workspace(kc, mcMax, ncMax) {
      cBlock = kc * (ncMax + mcMax);
      staging = cBlock + mcMax * ncMax;
      const bytesNeeded = (staging + kc * Math.max(mcMax, ncMax)) * F64_BYTES;
      if (bytesNeeded > memory.buffer.byteLength) {
        memory.grow(Math.ceil((bytesNeeded - memory.buffer.byteLength) / PAGE_BYTES));
        view = new Float64Array(memory.buffer);
      }
      return view;
    },
    pack(src, start, laneStride, depthStride, width, lanes, depth, at) {
      const panels = Math.ceil(lanes / width);
      const paddedLanes = panels * width;
      const w = view;
      if (laneStride === 1) {
        // Stage depth-major: step p's lanes are one run, followed by the zero padding of the last panel.
        for (let p = 0; p < depth; p++) {
          const to = staging + p * paddedLanes;
          copyRun(src, start + p * depthStride, lanes, w, to);
          w.fill(0, to + lanes, to + paddedLanes);
        }
        packers.get(width)!(staging * F64_BYTES, F64_BYTES, paddedLanes * F64_BYTES, panels, depth, at * F64_BYTES);
        return true;
      }
      if (depthStride === 1) {
        // Stage lane-major: each lane's steps are one run; the padding lanes are zeros.
        for (let l = 0; l < lanes; l++) copyRun(src, start + l * laneStride, depth, w, staging + l * depth);
        w.fill(0, staging + lanes * depth, staging + paddedLanes * depth);
        packers.get(width)!(staging * F64_BYTES, depth * F64_BYTES, F64_BYTES, panels, depth, at * F64_BYTES);
        return true;
      }
      return false;
    },
    multiplyBlock(kc, mc, nc, aAt, c, cAt, ldc) {
      const blockColumns = roundUp(nc, columns);
      multiply(kc, roundUp(mc, rows), blockColumns, aAt * F64_BYTES, 0, cBlock * F64_BYTES);
      const w = view;
      for (let r = 0; r < mc; r++) {
        const from = cBlock + r * blockColumns;
        const to = cAt + r * ldc;
        for (let q = 0; q < nc; q++) c[to + q] += w[from + q]!;
      }
    },
  };
}

/** dst[to, to + length) = src[from, from + length), converting to double. */
function copyRun(src: TypedArray, from: number, length: number, dst: Float64Array, to: number): void {
  dst.set(src.subarray(from, from + length), to);
}
