import type { DType } from '../dtype.js';
import { OpInputError, fmtShape } from '../errors.js';
import type { CompositeOp, OutputSpec } from '../op.js';
import { defineOp, run1 } from '../op.js';
import type { Tensor } from '../tensor.js';
import { numel, shapesEqual } from '../shape.js';
import { add, mul, rsqrt, sub } from './elementwise.js';
import { mean } from './reduce.js';
import { reshape } from './view.js';
import { requireFloat, sameDType } from './util.js';

/*
 * Normalisation layers, as PyTorch defines them (biased variance, eps inside the square root). Each is a composite
 * of reductions and elementwise ops: that definition is the CPU reference, and its autograd gives gradients of
 * every order. Each also has an `infer`, so that a backend may run it as one fused kernel under the same name;
 * autograd then differentiates this composite definition.
 *
 * Inputs are [x, weight?, bias?]; the attributes say which of the optional ones are present.
 */

interface AffineAttrs {
  hasWeight: boolean;
  hasBias: boolean;
  eps: number;
}

interface TrailingNormAttrs extends AffineAttrs {
  /** The trailing dims of x that are normalised together. */
  normalizedShape: readonly number[];
}

interface GroupNormAttrs extends AffineAttrs {
  numGroups: number;
}

type NormDef<A> = CompositeOp<A> & { infer: NonNullable<CompositeOp<A>['infer']> };

function defineNorm<A extends AffineAttrs>(def: Omit<NormDef<A>, 'kind' | 'family'>): NormDef<A> {
  return defineOp<A>({ ...def, kind: 'composite', family: 'norm' }) as NormDef<A>;
}


function withAffine(x: Tensor, weight: Tensor | undefined, bias: Tensor | undefined): Tensor[] {
  return [x, ...(weight ? [weight] : []), ...(bias ? [bias] : [])];
}

function splitAffine(inputs: readonly Tensor[], { hasWeight, hasBias }: AffineAttrs) {
  return { x: inputs[0]!, weight: hasWeight ? inputs[1] : undefined, bias: hasBias ? inputs[hasWeight ? 2 : 1] : undefined };
}

/* ---------------------------------------------------------------- checks */

/** Float inputs of one dtype, and weight and bias each of `affineShape`; gives the output: x's shape and dtype. */
function checkAffine(op: string, inputs: readonly Tensor[], attrs: AffineAttrs, affineShape: readonly number[]): OutputSpec[] {
  const shapes = inputs.map((t) => t.shape);
  requireFloat(op, inputs[0]!);
  const dtype = sameDType(op, inputs);
  const { x, weight, bias } = splitAffine(inputs, attrs);
  for (const [what, t] of [['weight', weight], ['bias', bias]] as const) {
    if (t && !shapesEqual(t.shape, affineShape)) {
      throw new OpInputError(op, `${what} has shape ${fmtShape(t.shape)}, expected ${fmtShape(affineShape)}`, shapes);
    }
  }
  if (!(attrs.eps >= 0)) throw new OpInputError(op, `eps must be a non-negative number, got ${attrs.eps}`, shapes);
  return [{ shape: x.shape, dtype }];
}

function checkTrailing(op: string, inputs: readonly Tensor[], attrs: TrailingNormAttrs): OutputSpec[] {
  const x = inputs[0]!;
  const { normalizedShape } = attrs;
  if (normalizedShape.length === 0) throw new OpInputError(op, 'normalizedShape must name at least one dim', inputs.map((t) => t.shape));
  if (normalizedShape.length > x.rank || !shapesEqual(x.shape.slice(x.rank - normalizedShape.length), normalizedShape)) {
    throw new OpInputError(op, `normalizedShape ${fmtShape(normalizedShape)} does not match the trailing dims of the input`, inputs.map((t) => t.shape));
  }
  return checkAffine(op, inputs, attrs, normalizedShape);
}

function checkGroups(inputs: readonly Tensor[], attrs: GroupNormAttrs): OutputSpec[] {
  const x = inputs[0]!;
  const shapes = inputs.map((t) => t.shape);
  if (x.rank < 2) throw new OpInputError('group_norm', `input must be [N, C, ...], got rank ${x.rank}`, shapes);
  const channels = x.shape[1]!;
  const { numGroups } = attrs;
  if (!Number.isInteger(numGroups) || numGroups < 1 || channels % numGroups !== 0) {
    throw new OpInputError('group_norm', `${channels} channels cannot be split into ${numGroups} groups of equal size`, shapes);
  }
  return checkAffine('group_norm', inputs, attrs, [channels]);
}

/* ---------------------------------------------------------------- definitions */

/** (x − mean) / √(var + ε) over `dims`, with the biased variance. */
function standardize(x: Tensor, dims: readonly number[], eps: number): Tensor {
  const centred = sub(x, mean(x, dims, true));
  const variance = mean(mul(centred, centred), dims, true);
  return mul(centred, rsqrt(add(variance, eps)));
}

function applyAffine(y: Tensor, weight: Tensor | undefined, bias: Tensor | undefined): Tensor {
  const scaled = weight ? mul(y, weight) : y;
  return bias ? add(scaled, bias) : scaled;
}

function trailingDims(x: Tensor, normalizedShape: readonly number[]): number[] {
  return normalizedShape.map((_, i) => x.rank - normalizedShape.length + i);
}

const layerNormDef = defineNorm<TrailingNormAttrs>({
  name: 'layer_norm',
  infer: (inputs, attrs) => checkTrailing('layer_norm', inputs, attrs),
  composite: (inputs, attrs) => {
    const { x, weight, bias } = splitAffine(inputs, attrs);
    return [applyAffine(standardize(x, trailingDims(x, attrs.normalizedShape), attrs.eps), weight, bias)];
  },
});

/** Each sample's channels fall into groups; each group is standardised over its channels and positions together. */
const groupNormDef = defineNorm<GroupNormAttrs>({
  name: 'group_norm',
  infer: checkGroups,
  composite: (inputs, attrs) => {
    const { x, weight, bias } = splitAffine(inputs, attrs);
    const [batch, channels] = x.shape as [number, number];
    const grouped = reshape(x, [batch, attrs.numGroups, (channels / attrs.numGroups) * numel(x.shape.slice(2))]);
    const y = reshape(standardize(grouped, [2], attrs.eps), x.shape);
    // weight and bias hold one value per channel: line them up with dim 1.
    const perChannel = [channels, ...x.shape.slice(2).map(() => 1)];
    return [applyAffine(y, weight && reshape(weight, perChannel), bias && reshape(bias, perChannel))];
  },
});

/** x / √(mean(x²) + ε): scales by the root mean square, without centring. */
const rmsNormDef = defineNorm<TrailingNormAttrs>({
  name: 'rms_norm',
  infer: (inputs, attrs) => checkTrailing('rms_norm', inputs, attrs),
  composite: (inputs, attrs) => {
    const { x, weight } = splitAffine(inputs, attrs);
    const meanSquare = mean(mul(x, x), trailingDims(x, attrs.normalizedShape), true);
    return [applyAffine(mul(x, rsqrt(add(meanSquare, attrs.eps))), weight, undefined)];
  },
});

/* ---------------------------------------------------------------- public functions */

function asShape(normalizedShape: number | readonly number[]): number[] {
  return typeof normalizedShape === 'number' ? [normalizedShape] : [...normalizedShape];
}

/** Standardises over the trailing dims `normalizedShape`, then scales by `weight` and shifts by `bias` (both of that shape). */
export function layerNorm(x: Tensor, normalizedShape: number | readonly number[], weight?: Tensor, bias?: Tensor, eps = 1e-5): Tensor {
  const attrs = { normalizedShape: asShape(normalizedShape), eps, hasWeight: weight !== undefined, hasBias: bias !== undefined };
  return run1(layerNormDef, withAffine(x, weight, bias), attrs);
}

/** x: [N, C, ...]; C splits into `numGroups` groups, each standardised per sample; weight and bias are [C]. */
export function groupNorm(x: Tensor, numGroups: number, weight?: Tensor, bias?: Tensor, eps = 1e-5): Tensor {
  const attrs = { numGroups, eps, hasWeight: weight !== undefined, hasBias: bias !== undefined };
  return run1(groupNormDef, withAffine(x, weight, bias), attrs);
}

/** Machine epsilon of the dtype: `torch.finfo(dtype).eps`, rms_norm's default. */
function machineEpsilon(dtype: DType): number {
  return dtype === 'float64' ? 2 ** -52 : 2 ** -23;
}

/** Root-mean-square normalisation over the trailing dims `normalizedShape`; eps defaults to the dtype's machine epsilon, as PyTorch. */
export function rmsNorm(x: Tensor, normalizedShape: number | readonly number[], weight?: Tensor, eps?: number): Tensor {
  const attrs = { normalizedShape: asShape(normalizedShape), eps: eps ?? machineEpsilon(x.dtype), hasWeight: weight !== undefined, hasBias: false };
  return run1(rmsNormDef, withAffine(x, weight, undefined), attrs);
}
