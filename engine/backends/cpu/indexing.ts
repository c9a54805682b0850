import type { Kernel, View } from '../../backend.js';
import { dataOf } from './storage.js';
import { elementOffsets } from './strided.js';

interface DimAttrs {
  dim: number;
}

/**
 * `view` walked over `grid` (a shape no larger than its own) with its own strides, except along `pinnedDim`,
 * which stays at 0: the index supplies that coordinate.
 */
function overGrid(view: View, grid: readonly number[], pinnedDim = -1): View {
  return { storage: view.storage, dtype: view.dtype, shape: grid, offset: view.offset, strides: view.strides.map((s, d) => (d === pinnedDim ? 0 : s)) };
}

/** A 0-d tensor has no stride; its single element is index 0 along dim 0. */
function strideAlong(view: View, dim: number): number {
  return view.strides[dim] ?? 0;
}

/** out[p] = x[p with coordinate `dim` replaced by index[p]], for every position p of the output. */
function gatherInto(x: View, index: View, out: View, dim: number): void {
  const [base, at] = elementOffsets([overGrid(x, out.shape, dim), index], out.shape);
  const step = strideAlong(x, dim);
  const src = dataOf(x);
  const idx = dataOf(index);
  const dst = dataOf(out);
  for (let i = 0; i < dst.length; i++) dst[i] = src[base![i]! + idx[at![i]!]! * step]!;
}

const gather: Kernel<DimAttrs> = ([x, index], [out], { dim }) => gatherInto(x!, index!, out!, dim);

/** index_select is a gather whose 1-D index is broadcast over every dim but `dim`. */
const indexSelect: Kernel<DimAttrs> = ([x, index], [out], { dim }) => {
  const spread: View = { ...overGrid(index!, out!.shape), strides: out!.shape.map((_, d) => (d === dim ? strideAlong(index!, 0) : 0)) };
  gatherInto(x!, spread, out!, dim);
};

/**
 * out = x, then out[p with coordinate `dim` replaced by index[p]] += src[p] for every position p of the index,
 * one after another in row-major order of the index, so repeated indices always add up in the same order. Sums
 * are kept in float64 and rounded to the output's dtype once, on store.
 */
const scatterAdd: Kernel<DimAttrs> = ([x, index, src], [out], { dim }) => {
  const xs = dataOf(x!);
  const [fromX] = elementOffsets([x!], x!.shape);
  const acc = Float64Array.from(fromX!, (p) => xs[p]!);
  const [target, at, from] = elementOffsets([overGrid(out!, index!.shape, dim), index!, overGrid(src!, index!.shape)], index!.shape);
  const step = strideAlong(out!, dim);
  const idx = dataOf(index!);
  const values = dataOf(src!);
  for (let i = 0; i < target!.length; i++) acc[target![i]! + idx[at![i]!]! * step] += values[from![i]!]!;
  dataOf(out!).set(acc);
};

export const indexingKernels: Record<string, Kernel> = { index_select: indexSelect, gather, scatter_add: scatterAdd };
