import type { DType } from '../dtype.js';
import { DTYPES, isFloat } from '../dtype.js';
import { OpInputError } from '../errors.js';
import { defineOp, run1 } from '../op.js';
import type { Generator, RandomAttrs } from '../random.js';
import { defaultGenerator } from '../random.js';
import { type CreateOptions, Tensor, fromArray, resolveBackend } from '../tensor.js';
import { numel } from '../shape.js';

/** Filled and random tensors are made by a kernel on their backend, so no host array crosses over. */

function checkShape(op: string, shape: readonly number[]): void {
  if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) throw new OpInputError(op, `invalid shape ${JSON.stringify(shape)}`);
}

function checkDType(op: string, dtype: DType): void {
  if (!DTYPES.includes(dtype)) throw new OpInputError(op, `unknown dtype '${dtype}' (expected one of ${DTYPES.join(', ')})`);
}

const fullDef = defineOp<{ shape: readonly number[]; dtype: DType; value: number }>({
  name: 'full',
  family: 'creation',
  kind: 'kernel',
  infer: (_inputs, { shape, dtype, value }) => {
    checkShape('full', shape);
    checkDType('full', dtype);
    if (dtype === 'int32' && !Number.isInteger(value)) throw new OpInputError('full', `value ${value} is not an integer for an int32 tensor`);
    return [{ shape, dtype }];
  },
});

function finish(t: Tensor, opts: CreateOptions): Tensor {
  if (opts.requiresGrad) t.requiresGrad = true;
  return t;
}

export function full(shape: readonly number[], value: number, opts: CreateOptions = {}): Tensor {
  return finish(run1(fullDef, [], { shape, dtype: opts.dtype ?? 'float32', value }, resolveBackend(opts.backend)), opts);
}
export const zeros = (shape: readonly number[], opts: CreateOptions = {}): Tensor => full(shape, 0, opts);
export const ones = (shape: readonly number[], opts: CreateOptions = {}): Tensor => full(shape, 1, opts);

const like = (t: Tensor, opts: CreateOptions): CreateOptions => ({ dtype: t.dtype, backend: t.backend, ...opts });
export const fullLike = (t: Tensor, value: number, opts: CreateOptions = {}): Tensor => full(t.shape, value, like(t, opts));
export const zerosLike = (t: Tensor, opts: CreateOptions = {}): Tensor => full(t.shape, 0, like(t, opts));
export const onesLike = (t: Tensor, opts: CreateOptions = {}): Tensor => full(t.shape, 1, like(t, opts));

/**
 * [start, end) in steps of `step`, like `torch.arange`: n = ⌈(end − start) / step⌉ values start + i·step.
 * float32 by default (PyTorch would pick int64 for integer arguments; ask for int32 explicitly).
 */
export function arange(start: number, end?: number, step = 1, opts: CreateOptions = {}): Tensor {
  if (end === undefined) [start, end] = [0, start];
  const dtype = opts.dtype ?? 'float32';
  if (![start, end, step].every(Number.isFinite)) throw new OpInputError('arange', `start, end and step must be finite, got ${start}, ${end}, ${step}`);
  if (step === 0) throw new OpInputError('arange', 'step must not be 0');
  if (Math.sign(end - start) === -Math.sign(step)) throw new OpInputError('arange', `step ${step} points away from end ${end} (start ${start})`);
  if (dtype === 'int32' && !(Number.isInteger(start) && Number.isInteger(step))) throw new OpInputError('arange', `int32 needs integer start and step, got ${start} and ${step}`);
  const n = Math.ceil((end - start) / step);
  return fromArray(Array.from({ length: n }, (_, i) => start + i * step), [n], { ...opts, dtype });
}

/**
 * `steps` points from start to end inclusive. As in PyTorch, the first half steps up from start and the second
 * half steps down from end, so both ends are exact and the points are symmetric.
 */
export function linspace(start: number, end: number, steps: number, opts: CreateOptions = {}): Tensor {
  if (!Number.isInteger(steps) || steps < 0) throw new OpInputError('linspace', `steps must be a non-negative integer, got ${steps}`);
  if (!Number.isFinite(start) || !Number.isFinite(end)) throw new OpInputError('linspace', `start and end must be finite, got ${start} and ${end}`);
  if (steps === 1) return fromArray([start], [1], opts);
  const step = (end - start) / (steps - 1);
  const half = Math.floor(steps / 2);
  return fromArray(Array.from({ length: steps }, (_, i) => (i < half ? start + i * step : end - (steps - 1 - i) * step)), [steps], opts);
}

/** The n×m matrix with ones on the diagonal. */
export function eye(n: number, m = n, opts: CreateOptions = {}): Tensor {
  if (!Number.isInteger(n) || !Number.isInteger(m) || n < 0 || m < 0) throw new OpInputError('eye', `sizes must be non-negative integers, got ${n} and ${m}`);
  const data = new Array<number>(n * m).fill(0);
  for (let i = 0; i < Math.min(n, m); i++) data[i * m + i] = 1;
  return fromArray(data, [n, m], opts);
}

/* ---------------------------------------------------------------- random */

/** Checked before a draw reserves its numbers, so a rejected call leaves the generator where it was. */
function checkDraw(op: string, shape: readonly number[], { distribution, low, high }: Omit<RandomAttrs, 'seed' | 'offset'>, dtype: DType): void {
  checkShape(op, shape);
  checkDType(op, dtype);
  if (distribution !== 'randint') {
    if (!isFloat(dtype)) throw new OpInputError(op, `${distribution} numbers need a float dtype, got ${dtype}`);
    return;
  }
  if (!Number.isInteger(low) || !Number.isInteger(high) || high! <= low!) throw new OpInputError(op, `needs integers low < high, got [${low}, ${high})`);
  if (high! - low! > 2 ** 32) throw new OpInputError(op, `the range [${low}, ${high}) is wider than 2^32`);
  if (dtype === 'int32' && (low! < -(2 ** 31) || high! > 2 ** 31)) throw new OpInputError(op, `[${low}, ${high}) does not fit int32`);
}

type RandomOpAttrs = RandomAttrs & { shape: readonly number[]; dtype: DType };

const randomDef = defineOp<RandomOpAttrs>({
  name: 'random',
  family: 'random',
  kind: 'kernel',
  infer: (_inputs, attrs) => {
    checkDraw('random', attrs.shape, attrs, attrs.dtype);
    return [{ shape: attrs.shape, dtype: attrs.dtype }];
  },
});

export interface RandomOptions extends CreateOptions {
  generator?: Generator;
}

function draw(op: string, shape: readonly number[], attrs: Omit<RandomAttrs, 'seed' | 'offset'>, opts: RandomOptions, dtype: DType): Tensor {
  checkDraw(op, shape, attrs, dtype);
  const gen = opts.generator ?? defaultGenerator;
  const offset = gen.take(numel(shape));
  return finish(run1(randomDef, [], { ...attrs, seed: gen.seed, offset, shape, dtype }, resolveBackend(opts.backend)), opts);
}

/** Uniform on [0, 1). */
export const rand = (shape: readonly number[], opts: RandomOptions = {}): Tensor => draw('rand', shape, { distribution: 'uniform' }, opts, opts.dtype ?? 'float32');
/** Standard normal. */
export const randn = (shape: readonly number[], opts: RandomOptions = {}): Tensor => draw('randn', shape, { distribution: 'normal' }, opts, opts.dtype ?? 'float32');
/** Integers in [low, high), int32 by default. */
export function randint(low: number, high: number, shape: readonly number[], opts: RandomOptions = {}): Tensor {
  return draw('randint', shape, { distribution: 'randint', low, high }, opts, opts.dtype ?? 'int32');
}
export const randLike = (t: Tensor, opts: RandomOptions = {}): Tensor => rand(t.shape, like(t, opts));
export const randnLike = (t: Tensor, opts: RandomOptions = {}): Tensor => randn(t.shape, like(t, opts));
