import * as E from '../../engine/index.js';
import type { Tensor } from '../../engine/index.js';

/**
 * The linear ("rectified flow") probability path of SiT's ICPlan, as LightningDiT trains on it:
 * t = 0 is pure noise x0, t = 1 is data x1, and the point at time t is
 *
 *   x_t = α_t·x1 + σ_t·x0   with α_t = t, σ_t = 1 − t,
 *
 * whose time derivative, the velocity the model learns to predict, is u = dα·x1 + dσ·x0 = x1 − x0.
 * (This is the opposite time direction from SD3/FLUX, where t = 1 is noise.)
 */

/** t of shape [N] viewed as [N, 1, 1, …] so that it scales each sample of a batch shaped like `like`. */
export function expandTimeLike(t: Tensor, like: Tensor): Tensor {
  return E.reshape(t, [t.shape[0]!, ...new Array<number>(like.rank - 1).fill(1)]);
}

export interface PathPoint {
  /** x_t = t·x1 + (1 − t)·x0. */
  xt: Tensor;
  /** The target velocity u = x1 − x0 (constant along the path). */
  ut: Tensor;
}

/** The point of the path at times t (one per sample) between noise x0 and data x1, and its velocity. */
export function linearPath(t: Tensor, x0: Tensor, x1: Tensor): PathPoint {
  const alpha = expandTimeLike(t, x1);
  const sigma = E.sub(1, alpha);
  return {
    xt: E.add(E.mul(alpha, x1), E.mul(sigma, x0)),
    ut: E.sub(x1, x0),
  };
}
