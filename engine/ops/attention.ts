import { isFloat } from '../dtype.js';
import { OpInputError } from '../errors.js';
import { isGradEnabled } from '../autograd/mode.js';
import { defineOp, run1, runOp } from '../op.js';
import type { OutputSpec } from '../op.js';
import { type Tensor, fromArray } from '../tensor.js';
import { broadcastShapes, shapesEqual } from '../shape.js';
import { add, mul, sub, where } from './elementwise.js';
import { matmul } from './matmul.js';
import { softmax, sum, sumToShape } from './reduce.js';
import { expand, transpose } from './view.js';

/*
 * Scaled dot-product attention, softmax(q·kᵀ·scale + mask)·v, as torch.nn.functional.scaled_dot_product_attention.
 *
 * Two ops, each a composite of matmul and softmax that is the reference (the CPU runs it, and autograd through
 * its parts gives exact higher-order gradients):
 * - scaled_dot_product_attention, the forward. A backend may run it as one fused (flash) kernel that never
 *   holds the L×S scores; the op's `backward` then calls the second op.
 * - scaled_dot_product_attention_backward: (dq, dk, dv) from q, k, v, the output and its gradient. A backend may
 *   fuse it too (recomputing the probabilities blockwise); its own gradient is that of its composite, so the
 *   fused path still has second derivatives.
 * A float mask that requires a gradient always takes the composite path: the fused backward gives no gradient
 * for the mask, which would otherwise be lost without a word.
 */

export interface AttentionOptions {
  /**
   * Broadcastable to [..., L, S]. An int32 mask says where to attend (nonzero = attend), like PyTorch's bool
   * mask; a float mask is added to the scores, like PyTorch's float mask.
   */
  mask?: Tensor;
  /** Query t attends to keys s ≤ t (the top-left aligned lower triangle, as in PyTorch). */
  isCausal?: boolean;
  /** Default 1/√E, E the query/key feature size. */
  scale?: number;
}

/** The attributes a fused kernel receives (the mask, if any, is input 3). */
export interface AttentionAttrs {
  scale: number;
  isCausal: boolean;
  mask: 'none' | 'keep' | 'additive';
}

/** Checks q [..., L, E], k [..., S, E], v [..., S, Ev] and the mask; gives the output [..., L, Ev]. */
function attentionInfer([q, k, v, mask]: readonly Tensor[], attrs: AttentionAttrs): OutputSpec[] {
  const op = 'scaled_dot_product_attention';
  const shapes = [q!, k!, v!, ...(mask ? [mask] : [])].map((t) => t.shape);
  if (q!.dtype !== k!.dtype || q!.dtype !== v!.dtype) throw new OpInputError(op, `q, k, v dtypes differ (${q!.dtype}, ${k!.dtype}, ${v!.dtype})`, shapes);
  if (!isFloat(q!.dtype)) throw new OpInputError(op, `needs float tensors, got ${q!.dtype}`, shapes);
  if (q!.rank < 2 || k!.rank < 2 || v!.rank < 2) throw new OpInputError(op, 'q, k and v need rank ≥ 2 ([..., L, E], [..., S, E], [..., S, Ev])', shapes);
  const [L, E] = q!.shape.slice(-2) as [number, number];
  const [S, Ek] = k!.shape.slice(-2) as [number, number];
  const [Sv, Ev] = v!.shape.slice(-2) as [number, number];
  if (Ek !== E) throw new OpInputError(op, `q has ${E} features per position, k has ${Ek}`, shapes);
  if (Sv !== S) throw new OpInputError(op, `k has ${S} positions, v has ${Sv}`, shapes);
  const batch = broadcastOrThrow([q!, k!, v!].map((t) => t.shape.slice(0, -2)), 'the batch dims of q, k and v do not broadcast together', shapes);
  if (mask) {
    if (attrs.isCausal) throw new OpInputError(op, 'give either a mask or isCausal, not both', shapes);
    if (attrs.mask === 'additive' && mask.dtype !== q!.dtype) throw new OpInputError(op, `a float mask must have the dtype of q (${q!.dtype}), got ${mask.dtype}`, shapes);
    const scores = [...batch, L, S];
    const why = `the mask does not broadcast to the scores [${scores.join(',')}]`;
    if (!shapesEqual(broadcastOrThrow([mask.shape, scores], why, shapes), scores)) throw new OpInputError(op, why, shapes);
  }
  return [{ shape: [...batch, L, Ev], dtype: q!.dtype }];
}

function broadcastOrThrow(parts: (readonly number[])[], why: string, shapes: (readonly number[])[]): number[] {
  try {
    return broadcastShapes('scaled_dot_product_attention', ...parts);
  } catch {
    throw new OpInputError('scaled_dot_product_attention', why, shapes);
  }
}

/** 1 where query t may attend to key s (s ≤ t), as an int32 [L, S] mask. */
function causalMask(L: number, S: number, like: Tensor): Tensor {
  const keep = new Int32Array(L * S);
  for (let t = 0; t < L; t++) keep.fill(1, t * S, t * S + Math.min(S, t + 1));
  return fromArray(keep, [L, S], { backend: like.backend });
}

/** The scores q·kᵀ·scale with the mask applied, [..., L, S]: what the softmax of both composites takes. */
function maskedScores([q, k, mask]: readonly (Tensor | undefined)[], { scale, isCausal, mask: maskKind }: AttentionAttrs): Tensor {
  let scores = matmul(mul(q!, scale), transpose(k!));
  if (maskKind === 'keep') scores = where(mask!, scores, -Infinity);
  if (maskKind === 'additive') scores = add(scores, mask!);
  if (isCausal) scores = where(causalMask(q!.shape[q!.rank - 2]!, k!.shape[k!.rank - 2]!, q!), scores, -Infinity);
  return scores;
}

function attentionComposite([q, k, v, mask]: readonly Tensor[], attrs: AttentionAttrs): Tensor[] {
  return [matmul(softmax(maskedScores([q, k, mask], attrs), -1), v!)];
}

const attentionDef = defineOp<AttentionAttrs>({
  name: 'scaled_dot_product_attention',
  family: 'attention',
  kind: 'composite',
  infer: attentionInfer,
  composite: attentionComposite,
  // Used only where a backend ran the fused kernel (elsewhere autograd goes through the composite's parts).
  // The backward op takes q, k and v at the full batch shape; broadcast ones get their gradients summed back.
  backward: ({ inputs: [q, k, v, mask], outputs: [out], attrs }, [gradOut]) => {
    const batch = out!.shape.slice(0, -2);
    const full = (t: Tensor) => expand(t, [...batch, ...t.shape.slice(-2)]);
    const [dq, dk, dv] = runOp(attentionBackwardDef, [full(q!), full(k!), full(v!), out!, gradOut!, ...(mask ? [mask] : [])], attrs);
    return [sumToShape(dq!, q!.shape), sumToShape(dk!, k!.shape), sumToShape(dv!, v!.shape)];
  },
});

/**
 * Checks q [..., L, E], k [..., S, E], v [..., S, Ev], out and gradOut [..., L, Ev], all with the same batch
 * dims (the forward's backward expands them), and the mask as for the forward; gives dq, dk, dv.
 */
function attentionBackwardInfer(inputs: readonly Tensor[], attrs: AttentionAttrs): OutputSpec[] {
  const op = 'scaled_dot_product_attention_backward';
  const [q, k, v, out, gradOut, mask] = inputs;
  const shapes = inputs.map((t) => t.shape);
  if (inputs.length < 5) throw new OpInputError(op, 'needs q, k, v, out and gradOut', shapes);
  let forward: OutputSpec;
  try {
    [forward] = attentionInfer(mask ? [q!, k!, v!, mask] : [q!, k!, v!], attrs) as [OutputSpec];
  } catch (e) {
    throw e instanceof OpInputError ? new OpInputError(op, e.detail, shapes) : e;
  }
  const batch = forward.shape.slice(0, -2);
  for (const [name, t] of [['q', q!], ['k', k!], ['v', v!]] as const) {
    if (!shapesEqual(t.shape.slice(0, -2), batch)) throw new OpInputError(op, `${name} must have the full batch dims [${batch.join(',')}]`, shapes);
  }
  for (const [name, t] of [['out', out!], ['gradOut', gradOut!]] as const) {
    if (!shapesEqual(t.shape, forward.shape)) throw new OpInputError(op, `${name} must have the output's shape [${forward.shape.join(',')}]`, shapes);
    if (t.dtype !== q!.dtype) throw new OpInputError(op, `${name} has dtype ${t.dtype}, q has ${q!.dtype}`, shapes);
  }
  return [q!, k!, v!].map((t) => ({ shape: t.shape, dtype: t.dtype }));
}

/**
 * With P = softmax(scores) and dO the output's gradient: dV = Pᵀ·dO; dS = P∘(dO·Vᵀ − rowsum(dO∘O)), the
 * softmax backward written with the output O (rowsum(P∘(dO·Vᵀ)) = rowsum(dO∘O)), so a fused kernel needs only
 * the rows' log-sum-exp to rebuild P; dQ = scale·dS·K and dK = scale·dSᵀ·Q.
 */
function attentionBackwardComposite([q, k, v, out, gradOut, mask]: readonly Tensor[], attrs: AttentionAttrs): Tensor[] {
  const p = softmax(maskedScores([q, k, mask], attrs), -1);
  const dv = matmul(transpose(p), gradOut!);
  const rowDot = sum(mul(gradOut!, out!), -1, true);
  const ds = mul(p, sub(matmul(gradOut!, transpose(v!)), rowDot));
  return [mul(matmul(ds, k!), attrs.scale), mul(matmul(transpose(ds), q!), attrs.scale), dv];
}

const attentionBackwardDef = defineOp<AttentionAttrs>({
  name: 'scaled_dot_product_attention_backward',
  family: 'attention',
  kind: 'composite',
  infer: attentionBackwardInfer,
  composite: attentionBackwardComposite,
});

function attentionAttrs(q: Tensor, opts: AttentionOptions): AttentionAttrs {
  const { mask } = opts;
  return {
    scale: opts.scale ?? 1 / Math.sqrt(q.shape[q.rank - 1] ?? 1),
    isCausal: opts.isCausal ?? false,
    mask: !mask ? 'none' : mask.dtype === 'int32' ? 'keep' : 'additive',
  };
}

/**
 * softmax(q·kᵀ·scale + mask)·v over the last two dims, batch dims broadcast. A query row whose keys are all
 * masked out gets NaN, as in PyTorch's reference (math) implementation.
 */
export function scaledDotProductAttention(q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions = {}): Tensor {
  const { mask } = opts;
  const attrs = attentionAttrs(q, opts);
  const inputs = mask ? [q, k, v, mask] : [q, k, v];
  attentionInfer(inputs, attrs);
  if (mask?.requiresGrad && isGradEnabled()) return attentionComposite(inputs, attrs)[0]!;
  return run1(attentionDef, inputs, attrs);
}

/** The composite definition whatever the backend: the reference a fused kernel is compared with. */
export function scaledDotProductAttentionReference(q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions = {}): Tensor {
  const inputs = opts.mask ? [q, k, v, opts.mask] : [q, k, v];
  const attrs = attentionAttrs(q, opts);
  attentionInfer(inputs, attrs);
  return attentionComposite(inputs, attrs)[0]!;
}

/**
 * The gradients (dq, dk, dv) of scaledDotProductAttention(q, k, v, opts) for the output gradient `gradOut`,
 * given its output `out`. q, k and v must have the output's batch dims (expand broadcast ones first).
 */
export function scaledDotProductAttentionBackward(q: Tensor, k: Tensor, v: Tensor, out: Tensor, gradOut: Tensor, opts: AttentionOptions = {}): [Tensor, Tensor, Tensor] {
  const inputs = [q, k, v, out, gradOut, ...(opts.mask ? [opts.mask] : [])];
  return runOp(attentionBackwardDef, inputs, attentionAttrs(q, opts)) as [Tensor, Tensor, Tensor];
}
