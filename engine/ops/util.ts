import type { DType } from '../dtype.js';
import { isFloat } from '../dtype.js';
import { OpInputError } from '../errors.js';
import { Tensor, fromArray } from '../tensor.js';

export type TensorLike = Tensor | number;

/** Turns plain numbers into 0-d tensors matching the first tensor argument's dtype and backend. */
export function toTensors(op: string, args: readonly TensorLike[]): Tensor[] {
  const ref = args.find((a): a is Tensor => a instanceof Tensor);
  if (!ref) throw new OpInputError(op, 'needs at least one tensor argument');
  return args.map((a) => (a instanceof Tensor ? a : fromArray([a], [], { dtype: ref.dtype, backend: ref.backend })));
}

/** Same dtype for all inputs: casts are explicit in this engine, so nothing loses precision silently. */
export function sameDType(op: string, inputs: readonly Tensor[]): DType {
  const dtype = inputs[0]!.dtype;
  if (inputs.some((t) => t.dtype !== dtype)) {
    throw new OpInputError(op, `dtypes differ (${inputs.map((t) => t.dtype).join(', ')}); cast explicitly with .to(dtype)`, inputs.map((t) => t.shape));
  }
  return dtype;
}

export function requireFloat(op: string, t: Tensor): void {
  if (!isFloat(t.dtype)) throw new OpInputError(op, `needs a float tensor, got ${t.dtype}`, [t.shape]);
}

export function requireRank(op: string, t: Tensor, ranks: readonly number[], what = 'input'): void {
  if (!ranks.includes(t.rank)) throw new OpInputError(op, `${what} must have rank ${ranks.join(' or ')}, got rank ${t.rank}`, [t.shape]);
}
