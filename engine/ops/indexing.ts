import { OpInputError, fmtShape } from '../errors.js';
import { defineOp, run1 } from '../op.js';
import type { Tensor } from '../tensor.js';
import { normalizeDim } from '../shape.js';
import { zerosLike } from './creation.js';
import { pad } from './shape.js';
import { expand, reshape } from './view.js';
import { sameDType } from './util.js';

/*
 * Indexing along one dim with int32 indices: index_select, gather, scatter_add, and embedding on top of
 * index_select. gather and scatter_add are each other's adjoints, so every backward here is one of the two.
 */

interface DimAttrs {
  dim: number;
}

type Shapes = readonly (readonly number[])[];

function requireIndexDType(op: string, index: Tensor, shapes: Shapes): void {
  if (index.dtype !== 'int32') throw new OpInputError(op, `indices must be int32, got ${index.dtype}`, shapes);
}

/**
 * Every index must satisfy 0 ≤ i < size: negative indices are refused, as PyTorch's index_select, gather,
 * scatter_add and embedding refuse them. A backend that reads back only asynchronously cannot check here
 * without stalling; its kernels must then keep out-of-range indices from reading or writing outside the tensor.
 */
function checkBounds(op: string, index: Tensor, size: number, dim: number, shapes: Shapes): void {
  if (!index.backend.readSync) return;
  for (const i of index.toArraySync()) {
    if (i < 0 || i >= size) throw new OpInputError(op, `index ${i} is out of bounds for dim ${dim} of size ${size}`, shapes);
  }
}

/** A 0-d tensor counts as one element along dim 0, as in PyTorch. */
function sizeAlong(x: Tensor, dim: number): number {
  return x.rank === 0 ? 1 : x.shape[dim]!;
}

/** The 1-D `index` laid along `dim` of `shape` and broadcast over the other dims. */
function spreadAlong(index: Tensor, shape: readonly number[], dim: number): Tensor {
  return expand(reshape(index, shape.map((_, d) => (d === dim ? index.size : 1))), shape);
}

/* ---------------------------------------------------------------- index_select */

const indexSelectDef = defineOp<DimAttrs>({
  name: 'index_select',
  family: 'index',
  kind: 'kernel',
  stridedInputs: true,
  infer: ([x, index], { dim }) => {
    const shapes = [x!.shape, index!.shape];
    requireIndexDType('index_select', index!, shapes);
    if (x!.rank === 0) throw new OpInputError('index_select', 'expects a tensor of rank at least 1', shapes);
    if (index!.rank > 1) throw new OpInputError('index_select', `index must be 1-D, got rank ${index!.rank}`, shapes);
    checkBounds('index_select', index!, x!.shape[dim]!, dim, shapes);
    return [{ shape: x!.shape.map((s, d) => (d === dim ? index!.size : s)), dtype: x!.dtype }];
  },
  /** Rows picked several times collect the sum of their gradients. */
  backward: ({ inputs: [x, index], attrs: { dim } }, [g]) => [scatterAdd(zerosLike(x!), dim, spreadAlong(index!, g!.shape, dim), g!), null],
});

/** The slices `index[0], index[1], …` of `x` along `dim`, in that order (like `torch.index_select`). */
export function indexSelect(x: Tensor, dim: number, index: Tensor): Tensor {
  return run1(indexSelectDef, [x, index], { dim: normalizeDim('index_select', dim, x.rank, x.shape) });
}

/* ---------------------------------------------------------------- gather / scatter_add */

const gatherDef = defineOp<DimAttrs>({
  name: 'gather',
  family: 'index',
  kind: 'kernel',
  stridedInputs: true,
  infer: ([x, index], { dim }) => {
    const shapes = [x!.shape, index!.shape];
    requireIndexDType('gather', index!, shapes);
    if (index!.rank !== x!.rank) throw new OpInputError('gather', `index must have the input's rank ${x!.rank}, got ${index!.rank}`, shapes);
    index!.shape.forEach((s, d) => {
      if (d !== dim && s > x!.shape[d]!) throw new OpInputError('gather', `index ${fmtShape(index!.shape)} is larger than the input at dim ${d}`, shapes);
    });
    checkBounds('gather', index!, sizeAlong(x!, dim), dim, shapes);
    return [{ shape: index!.shape, dtype: x!.dtype }];
  },
  /** Each gathered element sends its gradient back where it came from; repeated picks add up. */
  backward: ({ inputs: [x, index], attrs: { dim } }, [g]) => [scatterAdd(zerosLike(x!), dim, index!, g!), null],
});

/**
 * out[i][j][k] = x[index[i][j][k]][j][k] for dim 0 (likewise for other dims): the output has the index's shape
 * (like `torch.gather`).
 */
export function gather(x: Tensor, dim: number, index: Tensor): Tensor {
  return run1(gatherDef, [x, index], { dim: normalizeDim('gather', dim, x.rank, x.shape) });
}

const scatterAddDef = defineOp<DimAttrs>({
  name: 'scatter_add',
  family: 'index',
  kind: 'kernel',
  stridedInputs: true,
  infer: ([x, index, src], { dim }) => {
    const shapes = [x!.shape, index!.shape, src!.shape];
    requireIndexDType('scatter_add', index!, shapes);
    const dtype = sameDType('scatter_add', [x!, src!]);
    if (index!.rank !== x!.rank || src!.rank !== x!.rank) {
      throw new OpInputError('scatter_add', `input, index and src must have the same rank, got ${x!.rank}, ${index!.rank}, ${src!.rank}`, shapes);
    }
    index!.shape.forEach((s, d) => {
      if (s > src!.shape[d]! || (d !== dim && s > x!.shape[d]!)) {
        throw new OpInputError('scatter_add', `index ${fmtShape(index!.shape)} is larger than src, or than the input outside dim ${dim}, at dim ${d}`, shapes);
      }
    });
    checkBounds('scatter_add', index!, sizeAlong(x!, dim), dim, shapes);
    return [{ shape: x!.shape, dtype }];
  },
  /**
   * y = x + S·src, with S the scatter: x's gradient passes unchanged, src's is Sᵀ·g = gather(g), padded with
   * zeros where src is larger than the index (those elements are never read).
   */
  backward: ({ inputs: [, index, src], attrs: { dim }, needsGrad }, [g]) => [
    needsGrad[0] ? g! : null,
    null,
    needsGrad[2] ? zeroPadTo(gather(g!, dim, index!), src!.shape) : null,
  ],
});

function zeroPadTo(t: Tensor, shape: readonly number[]): Tensor {
  return pad(t, shape.flatMap((_, i) => [0, shape[shape.length - 1 - i]! - t.shape[shape.length - 1 - i]!]));
}

/**
 * x plus src added at the positions the index names along `dim`: out[index[i][j][k]][j][k] += src[i][j][k] for
 * dim 0. Out of place; repeated indices accumulate, in a fixed order (like `torch.scatter_add`).
 */
export function scatterAdd(x: Tensor, dim: number, index: Tensor, src: Tensor): Tensor {
  return run1(scatterAddDef, [x, index, src], { dim: normalizeDim('scatter_add', dim, x.rank, x.shape) });
}

/* ---------------------------------------------------------------- embedding */

/** Rows of `weight` [num, dim] picked by int32 `indices` of any shape: the result is [...indices.shape, dim]. */
export function embedding(indices: Tensor, weight: Tensor): Tensor {
  const shapes = [indices.shape, weight.shape];
  requireIndexDType('embedding', indices, shapes);
  if (weight.rank !== 2) throw new OpInputError('embedding', `weight must be 2-D [num, dim], got rank ${weight.rank}`, shapes);
  checkBounds('embedding', indices, weight.shape[0]!, 0, shapes);
  const rows = indexSelect(weight, 0, reshape(indices, [indices.size]));
  return reshape(rows, [...indices.shape, weight.shape[1]!]);
}
