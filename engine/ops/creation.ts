import type { DType } from '../dtype.js';
import { OpInputError } from '../errors.js';
import { defineOp, run1 } from '../op.js';
import type { Generator, RandomAttrs } from '../random.js';
import { defaultGenerator } from '../random.js';
import { type CreateOptions, Tensor, fromArray, resolveBackend } from '../tensor.js';
import { numel } from '../shape.js';

/** Filled and random tensors are made by a kernel on their backend, so no host array crosses over. */

function checkShape(op: string, shape: readonly number[]): void {
  if (!shape.every((d) => Number.isInteger(d) && d >= 0)) throw new OpInputError(op, `invalid shape ${JSON.stringify(shape)}`);
}

const fullDef = defineOp<{ shape: readonly number[]; dtype: DType; value: number }>({
  name: 'full',
  family: 'creation',
  kind: 'kernel',
  infer: (_inputs, { shape, dtype }) => {
    checkShape('full', shape);
    return [{ shape, dtype }];
  },
});

function finish(t: Tensor, opts: CreateOptions): Tensor {
  if (opts.requiresGrad) t.requiresGrad = true;
  return t;
}

export function full(shape: readonly number[], value: number, opts: CreateOptions = {}): Tensor {
  const dtype = opts.dtype ?? 'float32';
  if (dtype === 'int32' && !Number.isInteger(value)) throw new OpInputError('full', `value ${value} is not an integer for an int32 tensor`);
  return finish(run1(fullDef, [], { shape, dtype, value }, resolveBackend(opts.backend)), opts);
}
export const zeros = (shape: readonly number[], opts: CreateOptions = {}): Tensor => full(shape, 0, opts);
export const ones = (shape: readonly number[], opts: CreateOptions = {}): Tensor => full(shape, 1, opts);

const like = (t: Tensor, opts: CreateOptions): CreateOptions => ({ dtype: t.dtype, backend: t.backend, ...opts });
export const fullLike = (t: Tensor, value: number, opts: CreateOptions = {}): Tensor => full(t.shape, value, like(t, opts));
export const zerosLike = (t: Tensor, opts: CreateOptions = {}): Tensor => full(t.shape, 0, like(t, opts));
export const onesLike = (t: Tensor, opts: CreateOptions = {}): Tensor => full(t.shape, 1, like(t, opts));

/** [start, end) in steps of `step`, like `torch.arange`. */
export function arange(start: number, end?: number, step = 1, opts: CreateOptions = {}): Tensor {
  if (end === undefined) [start, end] = [0, start];
  if (step === 0) throw new OpInputError('arange', 'step must not be 0');
  const n = Math.max(0, Math.ceil((end - start) / step));
  return fromArray(Array.from({ length: n }, (_, i) => start + i * step), [n], { dtype: 'float32', ...opts });
}

/** `steps` points from start to end inclusive. */
export function linspace(start: number, end: number, steps: number, opts: CreateOptions = {}): Tensor {
  if (!Number.isInteger(steps) || steps < 0) throw new OpInputError('linspace', `steps must be a non-negative integer, got ${steps}`);
  const step = steps > 1 ? (end - start) / (steps - 1) : 0;
  return fromArray(Array.from({ length: steps }, (_, i) => (i === steps - 1 && steps > 1 ? end : start + i * step)), [steps], opts);
}

export function eye(n: number, m = n, opts: CreateOptions = {}): Tensor {
  const data = new Array<number>(n * m).fill(0);
  for (let i = 0; i < Math.min(n, m); i++) data[i * m + i] = 1;
  return fromArray(data, [n, m], opts);
}

/* ---------------------------------------------------------------- random */

const randomDef = defineOp<RandomAttrs & { shape: readonly number[]; dtype: DType }>({
  name: 'random',
  family: 'random',
  kind: 'kernel',
  infer: (_inputs, { shape, dtype }) => {
    checkShape('random', shape);
    return [{ shape, dtype }];
  },
});

export interface RandomOptions extends CreateOptions {
  generator?: Generator;
}

function draw(shape: readonly number[], attrs: Omit<RandomAttrs, 'seed' | 'offset'>, opts: RandomOptions, dtype: DType): Tensor {
  checkShape(attrs.distribution, shape);
  const gen = opts.generator ?? defaultGenerator;
  const offset = gen.take(numel(shape));
  return finish(run1(randomDef, [], { ...attrs, seed: gen.seed, offset, shape, dtype }, resolveBackend(opts.backend)), opts);
}

/** Uniform on [0, 1). */
export const rand = (shape: readonly number[], opts: RandomOptions = {}): Tensor => draw(shape, { distribution: 'uniform' }, opts, opts.dtype ?? 'float32');
/** Standard normal. */
export const randn = (shape: readonly number[], opts: RandomOptions = {}): Tensor => draw(shape, { distribution: 'normal' }, opts, opts.dtype ?? 'float32');
/** Integers in [low, high), int32 by default. */
export function randint(low: number, high: number, shape: readonly number[], opts: RandomOptions = {}): Tensor {
  if (!Number.isInteger(low) || !Number.isInteger(high) || high <= low) throw new OpInputError('randint', `needs integers low < high, got [${low}, ${high})`);
  return draw(shape, { distribution: 'randint', low, high }, opts, opts.dtype ?? 'int32');
}
export const randLike = (t: Tensor, opts: RandomOptions = {}): Tensor => rand(t.shape, like(t, opts));
export const randnLike = (t: Tensor, opts: RandomOptions = {}): Tensor => randn(t.shape, like(t, opts));
