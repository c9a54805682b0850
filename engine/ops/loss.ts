import { OpInputError, fmtShape } from '../errors.js';
import type { CompositeOp, OutputSpec } from '../op.js';
import { defineOp, run1 } from '../op.js';
import type { Tensor } from '../tensor.js';
import { broadcastShapes, normalizeDim, shapesEqual } from '../shape.js';
import { arange } from './creation.js';
import { abs, add, cast, div, eq, gt, maximum, mul, ne, neg, pow, sqrt, sub, where } from './elementwise.js';
import { amax, logSoftmax, mean, sum } from './reduce.js';
import { expand, reshape, unsqueeze } from './view.js';
import { requireFloat, sameDType } from './util.js';

/*
 * Losses and vector normalisation, as torch.nn.functional defines them. All are composites of differentiable
 * ops (so every order of gradient comes from their parts); each has an `infer`, so that a backend may run it as
 * one fused kernel (an online-softmax cross-entropy, say) under the same name.
 */

export type Reduction = 'mean' | 'sum' | 'none';

type LossDef<A> = CompositeOp<A> & { infer: NonNullable<CompositeOp<A>['infer']> };

function defineLoss<A>(def: Omit<LossDef<A>, 'kind' | 'family'>): LossDef<A> {
  return defineOp<A>({ ...def, kind: 'composite', family: 'loss' }) as LossDef<A>;
}


function reduceLoss(perElement: Tensor, reduction: Reduction): Tensor {
  if (reduction === 'none') return perElement;
  return reduction === 'sum' ? sum(perElement) : mean(perElement);
}

function checkReduction(op: string, reduction: Reduction, inputs: readonly Tensor[]): void {
  if (!['mean', 'sum', 'none'].includes(reduction)) {
    throw new OpInputError(op, `reduction must be 'mean', 'sum' or 'none', got '${reduction}'`, inputs.map((t) => t.shape));
  }
}

/* ---------------------------------------------------------------- regression losses */

interface ReductionAttrs {
  reduction: Reduction;
}

/**
 * PyTorch broadcasts input and target of different shapes (with a warning); here they must match, since the
 * mismatch is nearly always a bug ([N] against [N, 1] silently gives an [N, N] loss).
 */
function pointwiseLossInfer(op: string) {
  return (inputs: readonly Tensor[], { reduction }: ReductionAttrs): OutputSpec[] => {
    const [input, target] = inputs as [Tensor, Tensor];
    requireFloat(op, input);
    const dtype = sameDType(op, inputs);
    if (!shapesEqual(input.shape, target.shape)) {
      throw new OpInputError(op, `input ${fmtShape(input.shape)} and target ${fmtShape(target.shape)} must have the same shape`, [input.shape, target.shape]);
    }
    checkReduction(op, reduction, inputs);
    return [{ shape: reduction === 'none' ? input.shape : [], dtype }];
  };
}

const mseLossDef = defineLoss<ReductionAttrs>({
  name: 'mse_loss',
  infer: pointwiseLossInfer('mse_loss'),
  composite: ([input, target], { reduction }) => {
    const error = sub(input!, target!);
    return [reduceLoss(mul(error, error), reduction)];
  },
});

/** |input − target|; at equality the gradient is 0 (abs′(0) = 0, PyTorch's convention). */
const l1LossDef = defineLoss<ReductionAttrs>({
  name: 'l1_loss',
  infer: pointwiseLossInfer('l1_loss'),
  composite: ([input, target], { reduction }) => [reduceLoss(abs(sub(input!, target!)), reduction)],
});

/** Mean (or sum, or each) of (input − target)². */
export function mseLoss(input: Tensor, target: Tensor, reduction: Reduction = 'mean'): Tensor {
  return run1(mseLossDef, [input, target], { reduction });
}

/** Mean (or sum, or each) of |input − target|. */
export function l1Loss(input: Tensor, target: Tensor, reduction: Reduction = 'mean'): Tensor {
  return run1(l1LossDef, [input, target], { reduction });
}

/* ---------------------------------------------------------------- cross-entropy */

interface CrossEntropyAttrs {
  reduction: Reduction;
  labelSmoothing: number;
  ignoreIndex: number;
}

/** Logits are [C] (one sample) or [N, C, d...]: the classes are on dim 0 or dim 1. */
function classDimOf(logits: Tensor): number {
  return logits.rank === 1 ? 0 : 1;
}

const crossEntropyDef = defineLoss<CrossEntropyAttrs>({
  name: 'cross_entropy',
  infer: ([logits, target], { reduction, labelSmoothing, ignoreIndex }) => {
    const shapes = [logits!.shape, target!.shape];
    requireFloat('cross_entropy', logits!);
    if (logits!.rank === 0) throw new OpInputError('cross_entropy', 'logits must be [C] or [N, C, ...], got a 0-d tensor', shapes);
    if (target!.dtype !== 'int32') throw new OpInputError('cross_entropy', `target must hold int32 class indices, got ${target!.dtype}`, shapes);
    const classDim = classDimOf(logits!);
    const expected = logits!.shape.filter((_, d) => d !== classDim);
    if (!shapesEqual(target!.shape, expected)) {
      throw new OpInputError('cross_entropy', `target has shape ${fmtShape(target!.shape)}, expected ${fmtShape(expected)} (the logits' shape without the class dim)`, shapes);
    }
    if (!(labelSmoothing >= 0 && labelSmoothing <= 1)) throw new OpInputError('cross_entropy', `labelSmoothing must be in [0, 1], got ${labelSmoothing}`, shapes);
    if (!Number.isInteger(ignoreIndex)) throw new OpInputError('cross_entropy', `ignoreIndex must be an integer, got ${ignoreIndex}`, shapes);
    checkReduction('cross_entropy', reduction, [logits!, target!]);
    return [{ shape: reduction === 'none' ? target!.shape : [], dtype: logits!.dtype }];
  },
  /**
   * Per element: (1 − s)·(−log p[target]) + s·mean over classes of (−log p), with s the label smoothing; elements
   * whose target is ignoreIndex count as 0 and are left out of the mean. The target's log-probability is picked
   * with a one-hot mask (classes compared with the label) and `where`, so −∞ logits elsewhere never meet a 0·∞.
   */
  composite: ([logits, target], { reduction, labelSmoothing, ignoreIndex }) => {
    const classDim = classDimOf(logits!);
    const classes = logits!.shape[classDim]!;
    const logProbs = logSoftmax(logits!, classDim);
    const labels = cast(target!, logits!.dtype);
    const classIds = reshape(arange(classes, undefined, 1, { dtype: logits!.dtype, backend: logits!.backend }), logits!.shape.map((s, d) => (d === classDim ? s : 1)));
    const isTarget = eq(unsqueeze(labels, classDim), classIds);
    const nll = neg(sum(where(isTarget, logProbs, 0), classDim));
    const perElement = labelSmoothing > 0 ? add(mul(nll, 1 - labelSmoothing), mul(neg(mean(logProbs, classDim)), labelSmoothing)) : nll;
    const counted = ne(labels, ignoreIndex);
    const loss = where(counted, perElement, 0);
    if (reduction === 'none') return [loss];
    return [reduction === 'sum' ? sum(loss) : div(sum(loss), sum(counted))];
  },
});

/**
 * Class indices outside [0, C) are an error, as in PyTorch. Only a backend that reads synchronously (the CPU)
 * can look at them without stalling; elsewhere such a target matches no class and contributes label smoothing only.
 */
function checkClassIndices(logits: Tensor, target: Tensor, ignoreIndex: number): void {
  if (!target.backend.readSync) return;
  const classes = logits.shape[classDimOf(logits)]!;
  const bad = Array.from(target.toArraySync()).find((t) => t !== ignoreIndex && (t < 0 || t >= classes));
  if (bad !== undefined) {
    throw new OpInputError('cross_entropy', `target class ${bad} is out of range for ${classes} classes`, [logits.shape, target.shape]);
  }
}

export interface CrossEntropyOptions {
  reduction?: Reduction;
  /** Mixes the one-hot target with the uniform distribution: weight 1 − s on the target, s spread over all classes. */
  labelSmoothing?: number;
  /** Targets equal to this count for nothing, in the loss and in the mean's denominator. */
  ignoreIndex?: number;
}

/**
 * Softmax cross-entropy of logits [N, C, d...] (or [C]) against int32 class indices [N, d...] (or []), as
 * `torch.nn.functional.cross_entropy` with class-index targets. The mean divides by the number of targets not
 * ignored (NaN when all are ignored, as PyTorch).
 */
export function crossEntropy(logits: Tensor, target: Tensor, opts: CrossEntropyOptions = {}): Tensor {
  const attrs = { reduction: opts.reduction ?? 'mean', labelSmoothing: opts.labelSmoothing ?? 0, ignoreIndex: opts.ignoreIndex ?? -100 };
  crossEntropyDef.infer([logits, target], attrs);
  checkClassIndices(logits, target, attrs.ignoreIndex);
  return run1(crossEntropyDef, [logits, target], attrs);
}

/* ---------------------------------------------------------------- vector normalisation */

/**
 * ‖x‖_p along `dim`, kept as size 1. At x = 0 its gradient is 0 (PyTorch's choice of subgradient): the root is
 * taken of a stand-in 1 where the sum is 0, so no ∞·0 reaches the gradient.
 */
function vectorNorm(x: Tensor, p: number, dim: number): Tensor {
  if (p === Infinity) return amax(abs(x), dim, true);
  if (p === 1) return sum(abs(x), dim, true);
  const total = sum(p === 2 ? mul(x, x) : pow(abs(x), p), dim, true);
  const nonzero = gt(total, 0);
  const safeTotal = where(nonzero, total, 1);
  return where(nonzero, p === 2 ? sqrt(safeTotal) : pow(safeTotal, 1 / p), 0);
}

interface NormalizeAttrs {
  p: number;
  dim: number;
  eps: number;
}

const normalizeDef = defineLoss<NormalizeAttrs>({
  name: 'normalize',
  infer: ([x], { p, eps }) => {
    requireFloat('normalize', x!);
    if (x!.rank === 0) throw new OpInputError('normalize', 'needs at least one dim to normalise along', [x!.shape]);
    if (!(p > 0)) throw new OpInputError('normalize', `p must be positive (or Infinity), got ${p}`, [x!.shape]);
    if (!(eps >= 0)) throw new OpInputError('normalize', `eps must be a non-negative number, got ${eps}`, [x!.shape]);
    return [{ shape: x!.shape, dtype: x!.dtype }];
  },
  composite: ([x], { p, dim, eps }) => [div(x!, maximum(vectorNorm(x!, p, dim), eps))],
});

/** x / max(‖x‖_p, eps) along `dim`, as `torch.nn.functional.normalize`. */
export function normalize(x: Tensor, opts: { p?: number; dim?: number; eps?: number } = {}): Tensor {
  const dim = normalizeDim('normalize', opts.dim ?? 1, x.rank, x.shape);
  return run1(normalizeDef, [x], { p: opts.p ?? 2, dim, eps: opts.eps ?? 1e-12 });
}

interface CosineAttrs {
  dim: number;
  eps: number;
}

/**
 * PyTorch's current definition (ATen Distance.cpp, since 1.12): Σ (a / max(‖a‖, eps)) · (b / max(‖b‖, eps)),
 * each vector normalised first, which keeps the result within [−1, 1] and avoids forming ‖a‖·‖b‖. PyTorch clamps
 * the norms in place under no_grad, so for 0 < ‖a‖ < eps its gradient still flows through the norm; here the
 * gradient is that of the formula itself (the two agree wherever ‖a‖ ≥ eps and at a = 0).
 */
const cosineSimilarityDef = defineLoss<CosineAttrs>({
  name: 'cosine_similarity',
  infer: (inputs, { dim, eps }) => {
    const shapes = inputs.map((t) => t.shape);
    requireFloat('cosine_similarity', inputs[0]!);
    const dtype = sameDType('cosine_similarity', inputs);
    const shape = broadcastShapes('cosine_similarity', ...shapes);
    if (shape.length === 0) throw new OpInputError('cosine_similarity', 'needs at least one dim to compare along', shapes);
    if (!(eps >= 0)) throw new OpInputError('cosine_similarity', `eps must be a non-negative number, got ${eps}`, shapes);
    return [{ shape: shape.filter((_, d) => d !== dim), dtype }];
  },
  composite: ([a, b], { dim, eps }) => {
    const shape = broadcastShapes('cosine_similarity', a!.shape, b!.shape);
    const unit = (x: Tensor) => normalize(expand(x, shape), { dim, eps });
    return [sum(mul(unit(a!), unit(b!)), dim)];
  },
});

/** Cosine of the angle between a and b along `dim` (they broadcast), as `torch.nn.functional.cosine_similarity`. */
export function cosineSimilarity(a: Tensor, b: Tensor, dim = 1, eps = 1e-8): Tensor {
  const rank = Math.max(a.rank, b.rank);
  return run1(cosineSimilarityDef, [a, b], { dim: normalizeDim('cosine_similarity', dim, rank, (a.rank >= b.rank ? a : b).shape), eps });
}
