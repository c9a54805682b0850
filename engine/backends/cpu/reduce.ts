import type { Kernel, View } from '../../backend.js';
import { dataOf } from './storage.js';

export interface ReduceAttrs {
  dims: readonly number[];
  keepdim: boolean;
}

/** Offsets, relative to the view's start, of every element of the sub-grid spanned by `dims` (row-major). */
function gridOffsets(view: View, dims: readonly number[]): Int32Array {
  const sizes = dims.map((d) => view.shape[d]!);
  const strides = dims.map((d) => view.strides[d]!);
  const n = sizes.reduce((a, b) => a * b, 1);
  const out = new Int32Array(n);
  const idx = new Array<number>(dims.length).fill(0);
  let pos = 0;
  for (let i = 0; i < n; i++) {
    out[i] = pos;
    for (let d = dims.length - 1; d >= 0; d--) {
      idx[d]!++;
      pos += strides[d]!;
      if (idx[d]! < sizes[d]!) break;
      pos -= strides[d]! * sizes[d]!;
      idx[d] = 0;
    }
  }
  return out;
}

/** Splits the input into kept and reduced dims and calls `fold` once per output element. */
function reduceKernel(fold: (src: ArrayLike<number>, base: number, inner: Int32Array) => number): Kernel<ReduceAttrs> {
  return ([x], [out], { dims }) => {
    const kept = x!.shape.map((_, i) => i).filter((i) => !dims.includes(i));
    const outer = gridOffsets(x!, kept);
    const inner = gridOffsets(x!, dims);
    const src = dataOf(x!);
    const dst = dataOf(out!);
    for (let o = 0; o < outer.length; o++) dst[o] = fold(src, x!.offset + outer[o]!, inner);
  };
}

/**
 * Each output is 0 plus its elements in the row-major order of the reduced dims, in float64, rounded once on
 * store. When the input's last dim is kept, neighbouring outputs read neighbouring elements, so the elements are
 * added for all outputs at once, one reduced position after the other: the same additions in the same order per
 * output, but a sweep through memory instead of a strided walk per output.
 */
const sum: Kernel<ReduceAttrs> = ([x], [out], { dims }) => {
  const kept = x!.shape.map((_, i) => i).filter((i) => !dims.includes(i));
  const outer = gridOffsets(x!, kept);
  const inner = gridOffsets(x!, dims);
  const src = dataOf(x!);
  const dst = dataOf(out!);
  const base = x!.offset;
  const lastKept = kept.length > 0 && kept[kept.length - 1] === x!.shape.length - 1;
  if (lastKept && outer.length > 1) {
    const acc = new Float64Array(outer.length);
    for (let r = 0; r < inner.length; r++) {
      const at = base + inner[r]!;
      for (let o = 0; o < outer.length; o++) acc[o] += src[at + outer[o]!]!;
    }
    for (let o = 0; o < outer.length; o++) dst[o] = acc[o]!;
    return;
  }
  const consecutive = inner.every((offset, r) => offset === r);
  for (let o = 0; o < outer.length; o++) {
    const start = base + outer[o]!;
    let acc = 0;
    if (consecutive) for (let r = 0; r < inner.length; r++) acc += src[start + r]!;
    else for (let r = 0; r < inner.length; r++) acc += src[start + inner[r]!]!;
    dst[o] = acc;
  }
};

function extremum(better: (a: number, b: number) => boolean, returnIndex: boolean) {
  return reduceKernel((src, base, inner) => {
    let best = src[base + inner[0]!]!;
    let at = 0;
    for (let r = 1; r < inner.length; r++) {
      const v = src[base + inner[r]!]!;
      if (best !== best) break; // NaN wins and stays
      if (v !== v || better(v, best)) {
        best = v;
        at = r;
      }
    }
    return returnIndex ? at : best;
  });
}

export const reduceKernels: Record<string, Kernel> = {
  sum,
  amax: extremum((a, b) => a > b, false),
  amin: extremum((a, b) => a < b, false),
  argmax: extremum((a, b) => a > b, true),
  argmin: extremum((a, b) => a < b, true),
};
