import { OpInputError } from '../errors.js';
import { defineOp, run1 } from '../op.js';
import type { CompositeOp } from '../op.js';
import type { Tensor } from '../tensor.js';
import { normalizeDim, normalizeDims, reducedShape, shapesEqual } from '../shape.js';
import { abs, add, div, eq, exp, log, mul, sqrt, sub, where } from './elementwise.js';
import { detach, expand, reshape } from './view.js';
import { requireFloat } from './util.js';

/*
 * Reductions along any dims, with keepdim. Kernels: sum, amax/amin, argmax/argmin. The rest (mean, var, std,
 * logsumexp, softmax, log_softmax) are composites whose gradients come from their parts.
 */

export type Dims = number | readonly number[] | undefined;

interface ReduceAttrs {
  dims: readonly number[];
  keepdim: boolean;
}

/** Sums of nothing are 0; a max, min or arg-index of nothing does not exist (as in PyTorch). */
function reduceInfer(name: string) {
  return ([x]: readonly Tensor[], { dims, keepdim }: ReduceAttrs) => {
    for (const d of dims) {
      if (x!.shape[d] === 0 && name !== 'sum') throw new OpInputError(name, `cannot reduce over dim ${d} of size 0`, [x!.shape]);
    }
    const dtype = name.startsWith('arg') ? 'int32' : x!.dtype;
    return [{ shape: reducedShape(x!.shape, dims, keepdim), dtype } as const];
  };
}

/** Puts the reduced dims back as size 1 and broadcasts `g` over them. */
function unreduce(g: Tensor, input: Tensor, dims: readonly number[]): Tensor {
  return expand(reshape(g, reducedShape(input.shape, dims, true)), input.shape);
}

const sumDef = defineOp<ReduceAttrs>({
  name: 'sum',
  family: 'reduce',
  kind: 'kernel',
  infer: reduceInfer('sum'),
  backward: ({ inputs: [x], attrs }, [g]) => [unreduce(g!, x!, attrs.dims)],
});

/** Ties share the gradient evenly (PyTorch's amax/amin convention). */
function extremumBackward({ inputs: [x], outputs: [y], attrs }: { inputs: readonly Tensor[]; outputs: readonly Tensor[]; attrs: ReduceAttrs }, [g]: readonly Tensor[]) {
  const hits = eq(x!, unreduce(y!, x!, attrs.dims));
  const count = sumKeep(hits, attrs.dims);
  return [div(mul(unreduce(g!, x!, attrs.dims), hits), expand(count, x!.shape))];
}

const amaxDef = defineOp<ReduceAttrs>({ name: 'amax', family: 'reduce', kind: 'kernel', infer: reduceInfer('amax'), backward: extremumBackward });
const aminDef = defineOp<ReduceAttrs>({ name: 'amin', family: 'reduce', kind: 'kernel', infer: reduceInfer('amin'), backward: extremumBackward });
const argmaxDef = defineOp<ReduceAttrs>({ name: 'argmax', family: 'reduce', kind: 'kernel', infer: reduceInfer('argmax') });
const argminDef = defineOp<ReduceAttrs>({ name: 'argmin', family: 'reduce', kind: 'kernel', infer: reduceInfer('argmin') });

function attrsFor(op: string, x: Tensor, dims: Dims, keepdim: boolean): ReduceAttrs {
  return { dims: normalizeDims(op, dims, x.rank, x.shape), keepdim };
}

function sumKeep(x: Tensor, dims: readonly number[]): Tensor {
  return run1(sumDef, [x], { dims, keepdim: true });
}

export function sum(x: Tensor, dims?: Dims, keepdim = false): Tensor {
  return run1(sumDef, [x], attrsFor('sum', x, dims, keepdim));
}
export function amax(x: Tensor, dims?: Dims, keepdim = false): Tensor {
  return run1(amaxDef, [x], attrsFor('amax', x, dims, keepdim));
}
export function amin(x: Tensor, dims?: Dims, keepdim = false): Tensor {
  return run1(aminDef, [x], attrsFor('amin', x, dims, keepdim));
}
/** Index of the first maximum along `dim` (over the flattened tensor when dim is undefined), int32. */
export function argmax(x: Tensor, dim?: number, keepdim = false): Tensor {
  return run1(argmaxDef, [x], attrsFor('argmax', x, dim, keepdim && dim !== undefined));
}
export function argmin(x: Tensor, dim?: number, keepdim = false): Tensor {
  return run1(argminDef, [x], attrsFor('argmin', x, dim, keepdim && dim !== undefined));
}

/* ---------------------------------------------------------------- composites */

function count(x: Tensor, dims: readonly number[]): number {
  return dims.reduce((n, d) => n * x.shape[d]!, 1);
}

function defineComposite<A>(name: string, composite: CompositeOp<A>['composite'], infer?: CompositeOp<A>['infer'], backward?: CompositeOp<A>['backward']): CompositeOp<A> {
  return defineOp<A>({ name, family: 'reduce', kind: 'composite', composite, infer, backward }) as CompositeOp<A>;
}

/** Softmax-like ops keep their input's shape; giving `infer` lets a backend run them as one fused kernel. */
const sameShape = ([x]: readonly Tensor[]) => [{ shape: x!.shape, dtype: x!.dtype }];

const meanDef = defineComposite<ReduceAttrs>('mean', ([x], a) => [div(run1(sumDef, [x!], a), count(x!, a.dims))]);

/** `correction` 1 gives the unbiased estimate (PyTorch's default), 0 the biased one. */
const varDef = defineComposite<ReduceAttrs & { correction: number }>('var', ([x], { dims, keepdim, correction }) => {
  const centred = sub(x!, expand(div(sumKeep(x!, dims), count(x!, dims)), x!.shape));
  return [div(run1(sumDef, [mul(centred, centred)], { dims, keepdim }), Math.max(0, count(x!, dims) - correction))];
});

/**
 * The max over `dims` (kept, detached), to shift exponents into range: exp(x − m) ≤ 1. Gradients through the
 * shifted expressions stay exact because m cancels. An infinite max becomes 0 (PyTorch's guard), so that a slice
 * of all −∞ gives −∞ rather than ∞ − ∞; an empty tensor has no max and needs no shift.
 */
function maxForShift(x: Tensor, dims: readonly number[]): Tensor | number {
  if (x.size === 0) return 0;
  const m = run1(amaxDef, [detach(x)], { dims, keepdim: true });
  return where(eq(abs(m), Infinity), 0, m);
}

/** m + log Σ exp(x − m). */
const logsumexpDef = defineComposite<ReduceAttrs>('logsumexp', ([x], { dims, keepdim }) => {
  const m = maxForShift(x!, dims);
  const lse = add(log(sumKeep(exp(sub(x!, m)), dims)), m);
  return [keepdim ? lse : reshape(lse, reducedShape(x!.shape, dims, false))];
});

/** The dims list of a softmax axis: none for a 0-d tensor, whose softmax is 1. */
function axis(x: Tensor, dim: number): number[] {
  return x.rank === 0 ? [] : [dim];
}

/*
 * Where softmax and log_softmax run as fused kernels, their backward is written from the output y (as PyTorch's
 * softmax_backward_data), so it need not recompute the forward: for softmax dx = y·(g − Σ g·y), for log_softmax
 * dx = g − eʸ·Σ g, the sums along the softmax axis. Run as composites, they differentiate through their parts.
 */
const softmaxDef = defineComposite<{ dim: number }>(
  'softmax',
  ([x], { dim }) => {
    const e = exp(sub(x!, maxForShift(x!, axis(x!, dim))));
    return [div(e, sumKeep(e, axis(x!, dim)))];
  },
  sameShape,
  ({ outputs: [y], attrs: { dim } }, [g]) => [mul(y!, sub(g!, sumKeep(mul(g!, y!), axis(y!, dim))))],
);

/** (x − m) − log Σ exp(x − m): as PyTorch, no rounding at the scale of x when |x| is large. */
const logSoftmaxDef = defineComposite<{ dim: number }>(
  'log_softmax',
  ([x], { dim }) => {
    const shifted = sub(x!, maxForShift(x!, axis(x!, dim)));
    return [sub(shifted, log(sumKeep(exp(shifted), axis(x!, dim))))];
  },
  sameShape,
  ({ outputs: [y], attrs: { dim } }, [g]) => [sub(g!, mul(exp(y!), sumKeep(g!, axis(y!, dim))))],
);

export function mean(x: Tensor, dims?: Dims, keepdim = false): Tensor {
  requireFloat('mean', x);
  return run1(meanDef, [x], attrsFor('mean', x, dims, keepdim));
}
/** Like `torch.var`: divides by max(0, n − correction), so too few elements give NaN or ∞, as in PyTorch. */
export function variance(x: Tensor, dims?: Dims, opts: { correction?: number; keepdim?: boolean } = {}): Tensor {
  requireFloat('var', x);
  const correction = opts.correction ?? 1;
  if (!Number.isFinite(correction) || correction < 0) throw new OpInputError('var', `correction must be a finite number ≥ 0, got ${correction}`, [x.shape]);
  return run1(varDef, [x], { ...attrsFor('var', x, dims, opts.keepdim ?? false), correction });
}
export function std(x: Tensor, dims?: Dims, opts: { correction?: number; keepdim?: boolean } = {}): Tensor {
  return sqrt(variance(x, dims, opts));
}
export function logsumexp(x: Tensor, dims?: Dims, keepdim = false): Tensor {
  requireFloat('logsumexp', x);
  return run1(logsumexpDef, [x], attrsFor('logsumexp', x, dims, keepdim));
}
export function softmax(x: Tensor, dim = -1): Tensor {
  requireFloat('softmax', x);
  return run1(softmaxDef, [x], { dim: normalizeDim('softmax', dim, x.rank, x.shape) });
}
export function logSoftmax(x: Tensor, dim = -1): Tensor {
  requireFloat('log_softmax', x);
  return run1(logSoftmaxDef, [x], { dim: normalizeDim('log_softmax', dim, x.rank, x.shape) });
}

/** Sums a broadcast gradient back down to `shape` (the adjoint of broadcasting). */
export function sumToShape(g: Tensor, shape: readonly number[]): Tensor {
  if (shapesEqual(g.shape, shape)) return g;
  const lead = g.rank - shape.length;
  const dims: number[] = [];
  for (let i = 0; i < g.rank; i++) if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) dims.push(i);
  const summed = dims.length ? run1(sumDef, [g], { dims, keepdim: true }) : g;
  return reshape(summed, shape);
}

