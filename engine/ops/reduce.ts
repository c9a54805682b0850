import { OpInputError } from '../errors.js';
import { defineOp, run1 } from '../op.js';
import type { CompositeOp } from '../op.js';
import type { Tensor } from '../tensor.js';
import { normalizeDims, reducedShape, shapesEqual } from '../shape.js';
import { add, div, eq, exp, log, mul, sqrt, sub } from './elementwise.js';
import { expand, reshape } from './view.js';
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

function reduceInfer(name: string) {
  return ([x]: readonly Tensor[], { dims, keepdim }: ReduceAttrs) => {
    if (x!.size === 0 && name !== 'sum') throw new OpInputError(name, 'cannot reduce an empty tensor', [x!.shape]);
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

function defineComposite<A>(name: string, composite: CompositeOp<A>['composite']): CompositeOp<A> {
  return defineOp<A>({ name, family: 'reduce', kind: 'composite', composite }) as CompositeOp<A>;
}

const meanDef = defineComposite<ReduceAttrs>('mean', ([x], a) => [div(run1(sumDef, [x!], a), count(x!, a.dims))]);

/** `correction` 1 gives the unbiased estimate (PyTorch's default), 0 the biased one. */
const varDef = defineComposite<ReduceAttrs & { correction: number }>('var', ([x], { dims, keepdim, correction }) => {
  const centred = sub(x!, expand(div(sumKeep(x!, dims), count(x!, dims)), x!.shape));
  return [div(run1(sumDef, [mul(centred, centred)], { dims, keepdim }), Math.max(0, count(x!, dims) - correction))];
});

/** m + log Σ exp(x − m) with m = max(x) held constant: stable, and the gradient is exact because m cancels. */
const logsumexpDef = defineComposite<ReduceAttrs>('logsumexp', ([x], { dims, keepdim }) => {
  const m = run1(amaxDef, [x!.detach()], { dims, keepdim: true });
  const lse = add(log(sumKeep(exp(sub(x!, expand(m, x!.shape))), dims)), m);
  return [keepdim ? lse : reshape(lse, reducedShape(x!.shape, dims, false))];
});

const softmaxDef = defineComposite<{ dim: number }>('softmax', ([x], { dim }) => {
  const m = run1(amaxDef, [x!.detach()], { dims: [dim], keepdim: true });
  const e = exp(sub(x!, expand(m, x!.shape)));
  return [div(e, expand(sumKeep(e, [dim]), x!.shape))];
});

const logSoftmaxDef = defineComposite<{ dim: number }>('log_softmax', ([x], { dim }) => [
  sub(x!, expand(logsumexp(x!, dim, true), x!.shape)),
]);

export function mean(x: Tensor, dims?: Dims, keepdim = false): Tensor {
  requireFloat('mean', x);
  return run1(meanDef, [x], attrsFor('mean', x, dims, keepdim));
}
export function variance(x: Tensor, dims?: Dims, opts: { correction?: number; keepdim?: boolean } = {}): Tensor {
  requireFloat('var', x);
  return run1(varDef, [x], { ...attrsFor('var', x, dims, opts.keepdim ?? false), correction: opts.correction ?? 1 });
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
  return run1(softmaxDef, [x], { dim: attrsFor('softmax', x, dim, true).dims[0] ?? 0 });
}
export function logSoftmax(x: Tensor, dim = -1): Tensor {
  requireFloat('log_softmax', x);
  return run1(logSoftmaxDef, [x], { dim: attrsFor('log_softmax', x, dim, true).dims[0] ?? 0 });
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

