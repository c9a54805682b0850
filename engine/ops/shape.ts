import { OpInputError, fmtShape } from '../errors.js';
import { defineOp, run1 } from '../op.js';
import type { Tensor } from '../tensor.js';
import { normalizeDim, normalizeDims, shapesEqual } from '../shape.js';
import { expand, narrow, reshape, unsqueeze } from './view.js';
import { sameDType } from './util.js';

/*
 * Shape ops that move data: pad, cat, stack, split/chunk, flip, repeat.
 * Kernels: pad, cat, flip. The others are built from them and from views (split and chunk return views, as in
 * PyTorch), so their gradients come from their parts.
 */

/* ---------------------------------------------------------------- pad */

interface PadAttrs {
  /** Per dim, elements added before and after (non-negative; cropping is done with narrow). */
  before: readonly number[];
  after: readonly number[];
  value: number;
}

const padDef = defineOp<PadAttrs>({
  name: 'pad',
  family: 'shape',
  kind: 'kernel',
  infer: ([x], { before, after }) => [{ shape: x!.shape.map((s, i) => s + before[i]! + after[i]!), dtype: x!.dtype }],
  backward: ({ inputs: [x], attrs: { before } }, [g]) => {
    let out = g!;
    x!.shape.forEach((s, d) => (out = narrow(out, d, before[d]!, s)));
    return [out];
  },
});

/**
 * Constant padding with PyTorch's `F.pad` layout: `pads` = [left, right] of the last dim, then of the one before,
 * and so on. Amounts may differ on each side (asymmetric) and may be negative (cropping).
 */
export function pad(x: Tensor, pads: readonly number[], value = 0): Tensor {
  if (pads.length % 2 !== 0 || pads.length > 2 * x.rank || pads.some((p) => !Number.isInteger(p))) {
    throw new OpInputError('pad', `pads ${JSON.stringify(pads)} must be pairs of integers, at most one pair per dim`, [x.shape]);
  }
  const before = new Array<number>(x.rank).fill(0);
  const after = new Array<number>(x.rank).fill(0);
  for (let k = 0; k < pads.length / 2; k++) {
    const d = x.rank - 1 - k;
    before[d] = pads[2 * k]!;
    after[d] = pads[2 * k + 1]!;
    if (x.shape[d]! + before[d]! + after[d]! < 0) throw new OpInputError('pad', `pads ${JSON.stringify(pads)} crop dim ${d} below size 0`, [x.shape]);
  }
  let cropped = x;
  for (let d = 0; d < x.rank; d++) {
    const lo = Math.max(0, -before[d]!);
    const hi = Math.max(0, -after[d]!);
    if (lo || hi) cropped = narrow(cropped, d, lo, cropped.shape[d]! - lo - hi);
  }
  const grow = { before: before.map((p) => Math.max(0, p)), after: after.map((p) => Math.max(0, p)), value };
  if (grow.before.every((p) => p === 0) && grow.after.every((p) => p === 0)) return cropped;
  return run1(padDef, [cropped], grow);
}

/* ---------------------------------------------------------------- cat / stack */

const catDef = defineOp<{ dim: number }>({
  name: 'cat',
  family: 'shape',
  kind: 'kernel',
  infer: (inputs, { dim }) => {
    const shapes = inputs.map((t) => t.shape);
    const dtype = sameDType('cat', inputs);
    const first = inputs[0]!;
    if (first.rank === 0) throw new OpInputError('cat', 'zero-dimensional tensors cannot be concatenated (use stack)', shapes);
    inputs.forEach((t, i) => {
      if (t.rank !== first.rank || t.shape.some((s, d) => d !== dim && s !== first.shape[d])) {
        throw new OpInputError('cat', `tensor ${i} of shape ${fmtShape(t.shape)} does not match ${fmtShape(first.shape)} outside dim ${dim}`, shapes);
      }
    });
    const total = inputs.reduce((n, t) => n + t.shape[dim]!, 0);
    return [{ shape: first.shape.map((s, d) => (d === dim ? total : s)), dtype }];
  },
  /** Each input gets back its own stretch of the gradient. */
  backward: ({ inputs, attrs: { dim }, needsGrad }, [g]) => {
    let start = 0;
    return inputs.map((x, i) => {
      const length = x.shape[dim]!;
      const piece = needsGrad[i] ? narrow(g!, dim, start, length) : null;
      start += length;
      return piece;
    });
  },
});

/** Joins tensors end to end along `dim`; they must agree in dtype, backend and every other dim (like `torch.cat`). */
export function cat(tensors: readonly Tensor[], dim = 0): Tensor {
  if (tensors.length === 0) throw new OpInputError('cat', 'expects a non-empty list of tensors');
  const first = tensors[0]!;
  return run1(catDef, tensors, { dim: normalizeDim('cat', dim, first.rank, first.shape) });
}

/** Joins equally shaped tensors along a new dim `dim` (like `torch.stack`). */
export function stack(tensors: readonly Tensor[], dim = 0): Tensor {
  if (tensors.length === 0) throw new OpInputError('stack', 'expects a non-empty list of tensors');
  const shapes = tensors.map((t) => t.shape);
  const first = tensors[0]!;
  sameDType('stack', tensors);
  if (tensors.some((t) => !shapesEqual(t.shape, first.shape))) throw new OpInputError('stack', 'expects every tensor to have the same shape', shapes);
  const d = normalizeDim('stack', dim, first.rank + 1, first.shape);
  return cat(tensors.map((t) => unsqueeze(t, d)), d);
}

/* ---------------------------------------------------------------- split / chunk (views) */

/**
 * Pieces of `x` along `dim`, as views: either pieces of `splitSizeOrSections` elements (the last one shorter when
 * the size does not divide), or one piece per listed length, the lengths summing to the size (like `torch.split`).
 */
export function split(x: Tensor, splitSizeOrSections: number | readonly number[], dim = 0): Tensor[] {
  if (x.rank === 0) throw new OpInputError('split', 'expects a tensor of rank at least 1', [x.shape]);
  const d = normalizeDim('split', dim, x.rank, x.shape);
  const size = x.shape[d]!;
  const sections = typeof splitSizeOrSections === 'number' ? piecesOfSize(x, d, splitSizeOrSections) : splitSizeOrSections;
  if (sections.some((n) => !Number.isInteger(n) || n < 0) || sections.reduce((a, n) => a + n, 0) !== size) {
    throw new OpInputError('split', `sections ${JSON.stringify(sections)} must be non-negative integers summing to ${size}, the size of dim ${d}`, [x.shape]);
  }
  let start = 0;
  return sections.map((length) => {
    const piece = narrow(x, d, start, length);
    start += length;
    return piece;
  });
}

function piecesOfSize(x: Tensor, dim: number, splitSize: number): number[] {
  const size = x.shape[dim]!;
  if (!Number.isInteger(splitSize) || splitSize < 0 || (splitSize === 0 && size > 0)) {
    throw new OpInputError('split', `split size ${splitSize} must be a positive integer (0 only for an empty dim)`, [x.shape]);
  }
  // An empty dim still gives one (empty) piece, as in PyTorch.
  const count = size === 0 ? 1 : Math.ceil(size / splitSize);
  return Array.from({ length: count }, (_, i) => Math.min(splitSize, size - i * splitSize));
}

/**
 * At most `chunks` views of equal size ⌈size/chunks⌉ along `dim`, the last one shorter; fewer pieces when that
 * size covers the dim sooner (6 split in 4 gives 3 pieces of 2), exactly as `torch.chunk`.
 */
export function chunk(x: Tensor, chunks: number, dim = 0): Tensor[] {
  if (x.rank === 0) throw new OpInputError('chunk', 'expects a tensor of rank at least 1', [x.shape]);
  if (!Number.isInteger(chunks) || chunks <= 0) throw new OpInputError('chunk', `chunks must be a positive integer, got ${chunks}`, [x.shape]);
  const d = normalizeDim('chunk', dim, x.rank, x.shape);
  const size = x.shape[d]!;
  // No piece size says "this many empty pieces", so an empty dim is split by sections (PyTorch does the same).
  if (size === 0) return split(x, new Array<number>(chunks).fill(0), d);
  return split(x, Math.ceil(size / chunks), d);
}

/* ---------------------------------------------------------------- flip */

const flipDef = defineOp<{ dims: readonly number[] }>({
  name: 'flip',
  family: 'shape',
  kind: 'kernel',
  stridedInputs: true,
  infer: ([x]) => [{ shape: x!.shape, dtype: x!.dtype }],
  /** A flip is its own inverse and its own adjoint. */
  backward: ({ attrs: { dims } }, [g]) => [flip(g!, dims)],
});

/** Reverses the order of elements along each of `dims` (a copy, like `torch.flip`). */
export function flip(x: Tensor, dims: number | readonly number[]): Tensor {
  return run1(flipDef, [x], { dims: normalizeDims('flip', dims, x.rank, x.shape) });
}

/* ---------------------------------------------------------------- repeat */

/**
 * Tiles `x` `repeats[d]` times along each dim, like `torch.Tensor.repeat`; extra leading repeats add new dims.
 * Built by broadcasting: a new size-r axis in front of every dim, expanded, then merged into that dim.
 */
export function repeat(x: Tensor, repeats: readonly number[]): Tensor {
  if (repeats.length < x.rank) {
    throw new OpInputError('repeat', `repeats ${JSON.stringify(repeats)} has fewer entries than the tensor has dims (${x.rank})`, [x.shape]);
  }
  if (repeats.some((r) => !Number.isInteger(r) || r < 0)) {
    throw new OpInputError('repeat', `repeats ${JSON.stringify(repeats)} must be non-negative integers`, [x.shape]);
  }
  const shape = [...new Array<number>(repeats.length - x.rank).fill(1), ...x.shape];
  const spaced = reshape(x, shape.flatMap((s) => [1, s]));
  const tiled = expand(spaced, shape.flatMap((s, d) => [repeats[d]!, s]));
  return reshape(tiled, shape.map((s, d) => s * repeats[d]!));
}
