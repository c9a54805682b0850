import type { DType } from '../dtype.js';
import { DTYPES, isFloat } from '../dtype.js';
import { OpInputError } from '../errors.js';
import type { BackwardRule, OutputSpec } from '../op.js';
import { defineOp, run1 } from '../op.js';
import type { Tensor } from '../tensor.js';
import { broadcastShapes } from '../shape.js';
import { zerosLike } from './creation.js';
import { sumToShape } from './reduce.js';
import { type TensorLike, sameDType, toTensors } from './util.js';

/*
 * Elementwise ops and their derivatives, one table: each row reads like the math
 * (x input, y output, g incoming gradient), written in differentiable ops so higher orders work.
 */

type UnaryGrad = (x: Tensor, y: Tensor, g: Tensor) => Tensor;

function unaryInfer(name: string, floatOnly: boolean) {
  return ([x]: readonly Tensor[]): OutputSpec[] => {
    if (floatOnly && !isFloat(x!.dtype)) throw new OpInputError(name, `needs a float tensor, got ${x!.dtype}`, [x!.shape]);
    return [{ shape: x!.shape, dtype: x!.dtype }];
  };
}

function defineUnary(name: string, grad: UnaryGrad | null, floatOnly = true): (x: Tensor) => Tensor {
  const def = defineOp<object>({
    name,
    family: 'elementwise',
    kind: 'kernel',
    stridedInputs: true,
    infer: unaryInfer(name, floatOnly),
    backward: grad ? ({ inputs, outputs }, [g]) => [grad(inputs[0]!, outputs[0]!, g!)] : undefined,
  });
  return (x) => run1(def, [x], {});
}

export const neg = defineUnary('neg', (_x, _y, g) => neg(g), false);
export const exp = defineUnary('exp', (_x, y, g) => mul(g, y));
export const log = defineUnary('log', (x, _y, g) => div(g, x));
export const sqrt = defineUnary('sqrt', (_x, y, g) => div(g, mul(y, 2)));
export const rsqrt = defineUnary('rsqrt', (_x, y, g) => mul(g, mul(pow(y, 3), -0.5)));
/** abs′(0) = 0 (PyTorch's convention). */
export const abs = defineUnary('abs', (x, _y, g) => mul(g, sign(x)), false);
/** Derivative 0 almost everywhere; sign(0) = 0. */
export const sign = defineUnary('sign', (x) => zerosLike(x), false);
export const sin = defineUnary('sin', (x, _y, g) => mul(g, cos(x)));
export const cos = defineUnary('cos', (x, _y, g) => neg(mul(g, sin(x))));
export const tanh = defineUnary('tanh', (_x, y, g) => mul(g, sub(1, mul(y, y))));
export const sigmoid = defineUnary('sigmoid', (_x, y, g) => mul(g, mul(y, sub(1, y))));
/** erf′(x) = 2/√π · e^(−x²). */
export const erf = defineUnary('erf', (x, _y, g) => mul(g, mul(exp(neg(mul(x, x))), 2 / Math.sqrt(Math.PI))));
/** Not differentiable (piecewise constant): no backward, like a comparison. */
export const floor = defineUnary('floor', null);

/* ---------------------------------------------------------------- binary ops, NumPy broadcasting */

/**
 * The gradient reaching each input of a binary op, before summing over broadcast dims. Each rule runs only when
 * its input wants a gradient: besides saving work, this keeps e.g. log(a) in pow's exponent rule from ever being
 * evaluated at a negative base when only the base is trained.
 */
interface BinaryGrad {
  a: (a: Tensor, b: Tensor, y: Tensor, g: Tensor) => Tensor;
  b: (a: Tensor, b: Tensor, y: Tensor, g: Tensor) => Tensor;
}

function defineBinary(name: string, grad: BinaryGrad | null, opts: { floatOnly?: boolean } = {}) {
  const def = defineOp<object>({
    name,
    family: 'elementwise',
    kind: 'kernel',
    stridedInputs: true,
    infer: (inputs) => {
      const dtype = sameDType(name, inputs);
      if (opts.floatOnly && !isFloat(dtype)) throw new OpInputError(name, `needs float tensors, got ${dtype}`, inputs.map((t) => t.shape));
      return [{ shape: broadcastShapes(name, inputs[0]!.shape, inputs[1]!.shape), dtype }];
    },
    backward: grad
      ? ({ inputs: [a, b], outputs: [y], needsGrad }, [g]) => [
          needsGrad[0] ? sumToShape(grad.a(a!, b!, y!, g!), a!.shape) : null,
          needsGrad[1] ? sumToShape(grad.b(a!, b!, y!, g!), b!.shape) : null,
        ]
      : undefined,
  });
  return (a: TensorLike, b: TensorLike): Tensor => run1(def, toTensors(name, [a, b]), {});
}

export const add = defineBinary('add', { a: (_a, _b, _y, g) => g, b: (_a, _b, _y, g) => g });
export const sub = defineBinary('sub', { a: (_a, _b, _y, g) => g, b: (_a, _b, _y, g) => neg(g) });
export const mul = defineBinary('mul', { a: (_a, b, _y, g) => mul(g, b), b: (a, _b, _y, g) => mul(g, a) });
export const div = defineBinary('div', { a: (_a, b, _y, g) => div(g, b), b: (_a, b, y, g) => neg(div(mul(g, y), b)) }, { floatOnly: true });
/**
 * y = a^b. In the base: b·a^(b−1), taken as 0 where b = 0 (so 0^0 has slope 0, not 0·∞). In the exponent: y·log a,
 * taken as 0 where a = 0 and b ≥ 0 (the limit of a^b·log a). Both masks are PyTorch's.
 */
export const pow = defineBinary(
  'pow',
  {
    a: (a, b, _y, g) => where(eq(b, 0), 0, mul(g, mul(b, pow(a, sub(b, 1))))),
    b: (a, b, y, g) => where(mul(eq(a, 0), ge(b, 0)), 0, mul(g, mul(y, log(a)))),
  },
  { floatOnly: true },
);
/**
 * Ties split the gradient evenly; the smaller (larger) input gets nothing; where either input is NaN both get the
 * whole gradient. All three are PyTorch's convention for maximum (minimum).
 */
export const maximum = defineBinary('maximum', { a: (a, b, _y, g) => tieShare(lt(a, b), eq(a, b), g), b: (a, b, _y, g) => tieShare(gt(a, b), eq(a, b), g) });
export const minimum = defineBinary('minimum', { a: (a, b, _y, g) => tieShare(gt(a, b), eq(a, b), g), b: (a, b, _y, g) => tieShare(lt(a, b), eq(a, b), g) });

/** g · (1 − loses − ½·ties): the share of the gradient that an input of maximum/minimum receives. */
function tieShare(loses: Tensor, ties: Tensor, g: Tensor): Tensor {
  return mul(g, sub(sub(1, loses), mul(ties, 0.5)));
}

/** Comparisons return 1 or 0 in the inputs' dtype (this engine has no bool dtype) and have no gradient. */
export const eq = defineBinary('eq', null);
export const ne = defineBinary('ne', null);
export const lt = defineBinary('lt', null);
export const le = defineBinary('le', null);
export const gt = defineBinary('gt', null);
export const ge = defineBinary('ge', null);

/* ---------------------------------------------------------------- selection */

const whereDef = defineOp<object>({
  name: 'where',
  family: 'elementwise',
  kind: 'kernel',
  stridedInputs: true,
  infer: ([c, a, b]) => {
    const dtype = sameDType('where', [a!, b!]);
    return [{ shape: broadcastShapes('where', c!.shape, a!.shape, b!.shape), dtype }];
  },
  /** The branch not taken gets exactly 0, never NaN. */
  backward: ({ inputs: [c, a, b], needsGrad }, [g]) => [
    null,
    needsGrad[1] ? sumToShape(where(c!, g!, 0), a!.shape) : null,
    needsGrad[2] ? sumToShape(where(c!, 0, g!), b!.shape) : null,
  ],
});

/** cond ≠ 0 ? a : b, broadcasting all three. Plain numbers take the dtype of the other branch, or else of cond. */
export function where(cond: Tensor, a: TensorLike, b: TensorLike): Tensor {
  const [x, y] = toTensors('where', [a, b, cond]);
  return run1(whereDef, [cond, x!, y!], {});
}

/* ---------------------------------------------------------------- casts */

const castDef = defineOp<{ dtype: DType }>({
  name: 'cast',
  family: 'elementwise',
  kind: 'kernel',
  stridedInputs: true,
  infer: ([x], { dtype }) => {
    if (!DTYPES.includes(dtype)) throw new OpInputError('cast', `unknown dtype '${dtype}' (expected one of ${DTYPES.join(', ')})`, [x!.shape]);
    return [{ shape: x!.shape, dtype }];
  },
  backward: ({ inputs: [x] }, [g]) => [cast(g!, x!.dtype)],
});

/** Converts between dtypes, explicitly (ops never mix dtypes on their own). float→int32 truncates toward zero. */
export function cast(x: Tensor, dtype: DType): Tensor {
  if (x.dtype === dtype) return x;
  return run1(castDef, [x], { dtype });
}
