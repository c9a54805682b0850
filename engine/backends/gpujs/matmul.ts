import type { View } from '../../backend.js';
import { elementOffsets } from '../cpu/strided.js';
import type { KernelThis } from './runtime.js';
import type { GpuJsKernel } from './kernel.js';
import { storageOf } from './storage.js';

/*
 * [batch..., M, K] × [batch..., K, N], batch dims broadcast, operands of any strides read in place: the naive
 * kernel, one thread per output element (x: column, y: row, z: matrix of the batch), the way gpu.js's own
 * README writes it. The host passes where each matrix of the batch starts, and the strides.
 */

function matmulKernel(
  this: KernelThis,
  a: Float32Array, b: Float32Array, aStarts: Int32Array, bStarts: Int32Array,
  k: number, aRowStride: number, aColStride: number, bRowStride: number, bColStride: number,
): number {
  const aRow = aStarts[this.thread.z]! + this.thread.y * aRowStride;
  const bColumn = bStarts[this.thread.z]! + this.thread.x * bColStride;
  let sum = 0;
  for (let p = 0; p < k; p++) sum += a[aRow + p * aColStride]! * b[bColumn + p * bRowStride]!;
  return sum;
}

/** The batch dims of a view, for walking its matrices. */
function batchOf(v: View): View {
  return { ...v, shape: v.shape.slice(0, -2), strides: v.strides.slice(0, -2) };
}

const matmul: GpuJsKernel = (runtime, [a, b], [out]) => {
  const rank = out!.shape.length;
  const [m, n] = out!.shape.slice(rank - 2) as [number, number];
  const k = a!.shape[a!.shape.length - 1]!;
  const [aStarts, bStarts] = elementOffsets([batchOf(a!), batchOf(b!)], out!.shape.slice(0, -2));
  const [aRowStride, aColStride] = a!.strides.slice(-2) as [number, number];
  const [bRowStride, bColStride] = b!.strides.slice(-2) as [number, number];
  const args = [storageOf(a!).data, storageOf(b!).data, aStarts!, bStarts!, k, aRowStride, aColStride, bRowStride, bColStride];
  return runtime.run('matmul', matmulKernel, [n, m, aStarts!.length], args, out!);
};

export const matmulKernels: Record<string, GpuJsKernel> = { matmul };
