import { OpInputError } from '../errors.js';
import type { CompositeOp } from '../op.js';
import { defineOp, run1 } from '../op.js';
import type { Tensor } from '../tensor.js';
import { add, erf, gt, le, lt, mul, sigmoid, tanh, where } from './elementwise.js';
import { requireFloat } from './util.js';

/*
 * Activations, each a composite of elementwise ops: autograd differentiates the parts, so every order of
 * derivative comes free, and a backend may register a fused kernel under the op's name (`infer` then gives the
 * output). The kink conventions are PyTorch's: relu′(0) = 0, leaky_relu′(0) = negativeSlope, and clamp passes
 * the gradient where min ≤ x ≤ max, bounds included. NaN inputs give NaN outputs.
 */

function defineActivation<A>(name: string, composite: (x: Tensor, attrs: A) => Tensor): CompositeOp<A> {
  return defineOp<A>({
    name,
    family: 'elementwise',
    kind: 'composite',
    composite: ([x], attrs) => [composite(x!, attrs)],
    infer: ([x]) => [{ shape: x!.shape, dtype: x!.dtype }],
  }) as CompositeOp<A>;
}

/** x ≤ 0 selects the constant branch, so relu′(0) = 0 and NaN (which compares false) passes through. */
const reluDef = defineActivation<object>('relu', (x) => where(le(x, 0), 0, x));

const leakyReluDef = defineActivation<{ negativeSlope: number }>('leaky_relu', (x, { negativeSlope }) =>
  where(gt(x, 0), x, mul(x, negativeSlope)),
);

/** 0.5·x·(1 + erf(x/√2)): x times the standard normal CDF. */
const geluDef = defineActivation<{ approximate: 'none' | 'tanh' }>('gelu', (x, { approximate }) => {
  const halfX = mul(x, 0.5);
  if (approximate === 'none') return mul(halfX, add(1, erf(mul(x, Math.SQRT1_2))));
  // PyTorch's tanh form: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
  const inner = mul(add(x, mul(mul(x, mul(x, x)), 0.044715)), Math.sqrt(2 / Math.PI));
  return mul(halfX, add(1, tanh(inner)));
});

/** x·σ(x), also called swish. */
const siluDef = defineActivation<object>('silu', (x) => mul(x, sigmoid(x)));

/**
 * min(max(x, min), max) with the gradient passed where min ≤ x ≤ max. Two selections rather than maximum and
 * minimum, whose ties would split the gradient at the bounds. With min > max every element is max, as in PyTorch.
 */
const clampDef = defineActivation<{ min?: number; max?: number }>('clamp', (x, { min, max }) => {
  const low = min === undefined ? x : where(lt(x, min), min, x);
  return max === undefined ? low : where(gt(low, max), max, low);
});

export function relu(x: Tensor): Tensor {
  return run1(reluDef, [x], {});
}

export function leakyRelu(x: Tensor, negativeSlope = 0.01): Tensor {
  requireFloat('leaky_relu', x);
  if (!Number.isFinite(negativeSlope)) throw new OpInputError('leaky_relu', `negativeSlope must be finite, got ${negativeSlope}`, [x.shape]);
  return run1(leakyReluDef, [x], { negativeSlope });
}

export function gelu(x: Tensor, approximate: 'none' | 'tanh' = 'none'): Tensor {
  requireFloat('gelu', x);
  if (approximate !== 'none' && approximate !== 'tanh') throw new OpInputError('gelu', `approximate must be 'none' or 'tanh', got '${approximate}'`, [x.shape]);
  return run1(geluDef, [x], { approximate });
}

export function silu(x: Tensor): Tensor {
  requireFloat('silu', x);
  return run1(siluDef, [x], {});
}

/** Limits x to [min, max]; either bound may be left out, not both. int32 tensors need integer bounds. */
export function clamp(x: Tensor, min?: number, max?: number): Tensor {
  if (min === undefined && max === undefined) throw new OpInputError('clamp', 'needs at least one of min and max', [x.shape]);
  for (const [what, bound] of [['min', min], ['max', max]] as const) {
    if (bound === undefined) continue;
    if (Number.isNaN(bound)) throw new OpInputError('clamp', `${what} is NaN`, [x.shape]);
    if (x.dtype === 'int32' && !Number.isInteger(bound)) throw new OpInputError('clamp', `${what} ${bound} is not an integer for an int32 tensor`, [x.shape]);
  }
  return run1(clampDef, [x], { min, max });
}
