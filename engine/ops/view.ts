import { OpInputError, fmtShape } from '../errors.js';
import { defineOp, run1, setContiguousOp } from '../op.js';
import { Tensor, setContiguousCopy } from '../tensor.js';
import { contiguousStrides, normalizeDim, numel } from '../shape.js';
import { sumToShape } from './reduce.js';
import { pad } from './shape.js';

/*
 * Views: new shapes and strides over the same storage, no kernel and no copy. Their gradients are views or
 * reductions of the incoming gradient.
 */

interface Layout {
  shape: readonly number[];
  strides: readonly number[];
  offset: number;
}

/* ---------------------------------------------------------------- contiguous copy */

const copyDef = defineOp<object>({
  name: 'copy',
  family: 'shape',
  kind: 'kernel',
  stridedInputs: true,
  infer: ([x]) => [{ shape: x!.shape, dtype: x!.dtype }],
  backward: (_ctx, [g]) => [g],
});

/** A contiguous tensor with the same values (the tensor itself if it already is contiguous). */
export function contiguous(x: Tensor): Tensor {
  return x.isContiguous ? x : run1(copyDef, [x], {});
}
/** Always a fresh copy (like `clone()`), with gradient flowing through. */
export function clone(x: Tensor): Tensor {
  return run1(copyDef, [x], {});
}
setContiguousOp((t) => run1(copyDef, [t], {}));
setContiguousCopy((t) => run1(copyDef, [t], {}));

/** A tensor sharing storage with `x`, cut from the graph. */
export function detach(x: Tensor): Tensor {
  x.assertAlive('detach');
  return new Tensor(x.storage, x.shape, x.strides, x.offset);
}

/* ---------------------------------------------------------------- reshape */

const reshapeDef = defineOp<{ shape: readonly number[] }>({
  name: 'reshape',
  family: 'shape',
  kind: 'view',
  view: (x, { shape }): Layout => ({ shape, strides: contiguousStrides(shape), offset: x.offset }),
  backward: ({ inputs: [x] }, [g]) => [reshape(g!, x!.shape)],
});

/** Resolves one -1 in a target shape and checks that the element count matches. */
function resolveShape(op: string, x: Tensor, shape: readonly number[]): number[] {
  const out = [...shape];
  const free = out.indexOf(-1);
  if (out.filter((d) => d === -1).length > 1) throw new OpInputError(op, `only one dim may be -1 in ${fmtShape(shape)}`, [x.shape]);
  if (out.some((d) => !Number.isInteger(d) || d < -1)) throw new OpInputError(op, `invalid shape ${fmtShape(shape)}`, [x.shape]);
  if (free >= 0) {
    const rest = out.reduce((a, d, i) => (i === free ? a : a * d), 1);
    if (rest === 0 || x.size % rest !== 0) throw new OpInputError(op, `cannot infer -1 in ${fmtShape(shape)} for ${x.size} elements`, [x.shape]);
    out[free] = x.size / rest;
  }
  if (numel(out) !== x.size) throw new OpInputError(op, `shape ${fmtShape(shape)} holds ${numel(out)} elements, the tensor has ${x.size}`, [x.shape]);
  return out;
}

/** Same elements, new shape (one dim may be -1). A view when `x` is contiguous, else a copy. */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  const target = resolveShape('reshape', x, shape);
  if (target.length === x.rank && target.every((d, i) => d === x.shape[i])) return x;
  return run1(reshapeDef, [contiguous(x)], { shape: target });
}

export function flatten(x: Tensor, startDim = 0, endDim = -1): Tensor {
  if (x.rank === 0) return reshape(x, [1]);
  const s = normalizeDim('flatten', startDim, x.rank, x.shape);
  const e = normalizeDim('flatten', endDim, x.rank, x.shape);
  if (s > e) throw new OpInputError('flatten', `startDim ${startDim} comes after endDim ${endDim}`, [x.shape]);
  return reshape(x, [...x.shape.slice(0, s), numel(x.shape.slice(s, e + 1)), ...x.shape.slice(e + 1)]);
}

export function unsqueeze(x: Tensor, dim: number): Tensor {
  const d = normalizeDim('unsqueeze', dim, x.rank + 1, x.shape);
  return reshape(x, [...x.shape.slice(0, d), 1, ...x.shape.slice(d)]);
}

/** Removes size-1 dims (all of them, or the given ones; a given dim that is not size 1 is left alone, as PyTorch). */
export function squeeze(x: Tensor, dims?: number | readonly number[]): Tensor {
  const list = dims === undefined ? x.shape.map((_, i) => i) : (typeof dims === 'number' ? [dims] : dims).map((d) => normalizeDim('squeeze', d, x.rank, x.shape));
  return reshape(x, x.shape.filter((s, i) => !(s === 1 && list.includes(i))));
}

/* ---------------------------------------------------------------- permute / transpose */

const permuteDef = defineOp<{ order: readonly number[] }>({
  name: 'permute',
  family: 'shape',
  kind: 'view',
  view: (x, { order }): Layout => ({ shape: order.map((d) => x.shape[d]!), strides: order.map((d) => x.strides[d]!), offset: x.offset }),
  backward: ({ attrs: { order } }, [g]) => {
    const inverse = new Array<number>(order.length);
    order.forEach((d, i) => (inverse[d] = i));
    return [permute(g!, inverse)];
  },
});

export function permute(x: Tensor, order: readonly number[]): Tensor {
  const norm = order.map((d) => normalizeDim('permute', d, x.rank, x.shape));
  if (norm.length !== x.rank || new Set(norm).size !== x.rank) {
    throw new OpInputError('permute', `order ${JSON.stringify(order)} is not a permutation of ${x.rank} dims`, [x.shape]);
  }
  if (norm.every((d, i) => d === i)) return x;
  return run1(permuteDef, [x], { order: norm });
}

export function transpose(x: Tensor, dim0 = -2, dim1 = -1): Tensor {
  const a = normalizeDim('transpose', dim0, x.rank, x.shape);
  const b = normalizeDim('transpose', dim1, x.rank, x.shape);
  const order = x.shape.map((_, i) => (i === a ? b : i === b ? a : i));
  return permute(x, order);
}

/* ---------------------------------------------------------------- expand */

const expandDef = defineOp<{ shape: readonly number[] }>({
  name: 'expand',
  family: 'shape',
  kind: 'view',
  view: (x, { shape }): Layout => {
    const lead = shape.length - x.rank;
    return { shape, strides: shape.map((s, i) => (i < lead || (x.shape[i - lead] === 1 && s !== 1) ? 0 : x.strides[i - lead]!)), offset: x.offset };
  },
  backward: ({ inputs: [x] }, [g]) => [sumToShape(g!, x!.shape)],
});

/** Broadcasts size-1 (and new leading) dims to `shape` without copying; -1 keeps a dim. */
export function expand(x: Tensor, shape: readonly number[]): Tensor {
  const lead = shape.length - x.rank;
  if (lead < 0) throw new OpInputError('expand', `target ${fmtShape(shape)} has fewer dims than the tensor`, [x.shape]);
  const target = shape.map((s, i) => (s === -1 && i >= lead ? x.shape[i - lead]! : s));
  target.forEach((s, i) => {
    const from = i < lead ? 1 : x.shape[i - lead]!;
    if (!Number.isInteger(s) || s < 0 || (from !== 1 && from !== s)) {
      throw new OpInputError('expand', `cannot expand ${fmtShape(x.shape)} to ${fmtShape(shape)} (dim ${i})`, [x.shape]);
    }
  });
  if (lead === 0 && target.every((s, i) => s === x.shape[i])) return x;
  return run1(expandDef, [x], { shape: target });
}

/* ---------------------------------------------------------------- narrow (slices of one dim) */

const narrowDef = defineOp<{ dim: number; start: number; length: number }>({
  name: 'narrow',
  family: 'shape',
  kind: 'view',
  view: (x, { dim, start, length }): Layout => ({
    shape: x.shape.map((s, i) => (i === dim ? length : s)),
    strides: x.strides,
    offset: x.offset + start * x.strides[dim]!,
  }),
  backward: ({ inputs: [x], attrs: { dim, start, length } }, [g]) => {
    const pads = new Array<number>(2 * x!.rank).fill(0);
    const fromEnd = x!.rank - 1 - dim;
    pads[2 * fromEnd] = start;
    pads[2 * fromEnd + 1] = x!.shape[dim]! - start - length;
    return [pad(g!, pads)];
  },
});

/** A 0-d tensor has no dim to cut along. */
function requireAnyDim(op: string, x: Tensor): void {
  if (x.rank === 0) throw new OpInputError(op, 'cannot be applied to a 0-d tensor', [x.shape]);
}

/** Elements start..start+length−1 along `dim`, as a view (like `torch.narrow`). Negative start counts from the end. */
export function narrow(x: Tensor, dim: number, start: number, length: number): Tensor {
  requireAnyDim('narrow', x);
  const d = normalizeDim('narrow', dim, x.rank, x.shape);
  const size = x.shape[d]!;
  const s = start < 0 ? start + size : start;
  if (!Number.isInteger(s) || !Number.isInteger(length) || s < 0 || length < 0 || s + length > size) {
    throw new OpInputError('narrow', `range start=${start} length=${length} does not fit dim ${d} of size ${size}`, [x.shape]);
  }
  if (s === 0 && length === size) return x;
  return run1(narrowDef, [x], { dim: d, start: s, length });
}

/** Python-style slice `[start:end]` along `dim` (negative and out-of-range bounds clamp, as in PyTorch). */
export function slice(x: Tensor, dim: number, start = 0, end?: number): Tensor {
  requireAnyDim('slice', x);
  const d = normalizeDim('slice', dim, x.rank, x.shape);
  if (!Number.isInteger(start) || (end !== undefined && !Number.isInteger(end))) {
    throw new OpInputError('slice', `bounds must be integers, got start=${start} end=${end}`, [x.shape]);
  }
  const size = x.shape[d]!;
  const clamp = (v: number) => Math.min(size, Math.max(0, v < 0 ? v + size : v));
  const s = clamp(start);
  const e = Math.max(s, clamp(end ?? size));
  return narrow(x, d, s, e - s);
}

