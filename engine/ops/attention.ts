import { isFloat } from '../dtype.js';
import { OpInputError } from '../errors.js';
import { defineOp, run1 } from '../op.js';
import type { OutputSpec } from '../op.js';
import { type Tensor, fromArray } from '../tensor.js';
import { broadcastShapes, shapesEqual } from '../shape.js';
import { add, mul, where } from './elementwise.js';
import { matmul } from './matmul.js';
import { softmax } from './reduce.js';
import { transpose } from './view.js';

/*
 * Scaled dot-product attention, softmax(q·kᵀ·scale + mask)·v, as torch.nn.functional.scaled_dot_product_attention.
 * It is a composite of matmul and softmax; `infer` lets a backend supply a fused (flash) kernel under the same
 * name, whose backward is then the gradient of this definition.
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

interface AttentionAttrs {
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

const attentionDef = defineOp<AttentionAttrs>({
  name: 'scaled_dot_product_attention',
  family: 'attention',
  kind: 'composite',
  infer: attentionInfer,
  composite: ([q, k, v, mask], { scale, isCausal, mask: maskKind }) => {
    let scores = matmul(mul(q!, scale), transpose(k!));
    if (maskKind === 'keep') scores = where(mask!, scores, -Infinity);
    if (maskKind === 'additive') scores = add(scores, mask!);
    if (isCausal) scores = where(causalMask(q!.shape[q!.rank - 2]!, k!.shape[k!.rank - 2]!, q!), scores, -Infinity);
    return [matmul(softmax(scores, -1), v!)];
  },
});

/**
 * softmax(q·kᵀ·scale + mask)·v over the last two dims, batch dims broadcast. A query row whose keys are all
 * masked out gets NaN, as in PyTorch's reference (math) implementation.
 */
export function scaledDotProductAttention(q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions = {}): Tensor {
  const { mask } = opts;
  const attrs: AttentionAttrs = {
    scale: opts.scale ?? 1 / Math.sqrt(q.shape[q.rank - 1] ?? 1),
    isCausal: opts.isCausal ?? false,
    mask: !mask ? 'none' : mask.dtype === 'int32' ? 'keep' : 'additive',
  };
  const inputs = mask ? [q, k, v, mask] : [q, k, v];
  attentionInfer(inputs, attrs);
  return run1(attentionDef, inputs, attrs);
}
