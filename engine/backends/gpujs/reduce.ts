import type { View } from '../../backend.js';
import type { ReduceAttrs } from '../cpu/reduce.js';
import { elementOffsets } from '../cpu/strided.js';
import type { KernelThis } from './runtime.js';
import type { GpuJsKernel } from './kernel.js';
import { storageOf } from './storage.js';

/*
 * Reductions along any dims: one thread per output element folds the reduced sub-grid. The host splits the
 * input's dims into kept and reduced ones and passes two offset tables: where each output's sub-grid starts
 * (`outer`), and where each element of a sub-grid sits relative to that start (`inner`, `count` of them).
 */

function sumKernel(this: KernelThis, x: Float32Array, outer: Int32Array, inner: Int32Array, count: number): number {
  const base = outer[this.thread.x]!;
  let acc = 0;
  for (let r = 0; r < count; r++) acc += x[base + inner[r]!]!;
  return acc;
}

function maxKernel(this: KernelThis, x: Float32Array, outer: Int32Array, inner: Int32Array, count: number): number {
  const base = outer[this.thread.x]!;
  let best = x[base + inner[0]!]!;
  for (let r = 1; r < count; r++) best = Math.max(best, x[base + inner[r]!]!);
  return best;
}

function minKernel(this: KernelThis, x: Float32Array, outer: Int32Array, inner: Int32Array, count: number): number {
  const base = outer[this.thread.x]!;
  let best = x[base + inner[0]!]!;
  for (let r = 1; r < count; r++) best = Math.min(best, x[base + inner[r]!]!);
  return best;
}

/** The view restricted to `dims` (its other dims fixed at index 0), starting at `offset`. */
function subGrid(x: View, dims: readonly number[], offset: number): View {
  return { ...x, offset, shape: dims.map((d) => x.shape[d]!), strides: dims.map((d) => x.strides[d]!) };
}

function reduction(name: string, fn: typeof sumKernel): GpuJsKernel<ReduceAttrs> {
  return (runtime, [x], [out], { dims }) => {
    const kept = x!.shape.map((_, d) => d).filter((d) => !dims.includes(d));
    const outerGrid = subGrid(x!, kept, x!.offset);
    const innerGrid = subGrid(x!, dims, 0);
    const [outer] = elementOffsets([outerGrid], outerGrid.shape);
    const [inner] = elementOffsets([innerGrid], innerGrid.shape);
    return runtime.run(name, fn, [outer!.length], [storageOf(x!).data, outer!, inner!, inner!.length], out!);
  };
}

export const reduceKernels: Record<string, GpuJsKernel> = {
  sum: reduction('sum', sumKernel),
  amax: reduction('amax', maxKernel),
  amin: reduction('amin', minKernel),
};
