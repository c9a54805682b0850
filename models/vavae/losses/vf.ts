import { type Tensor, abs, add, cosineSimilarity, matmul, mean, mul, normalize, relu, reshape, sub, transpose } from '../../../engine/index.js';
import { EngineError, fmtShape } from '../../../engine/errors.js';

/*
 * The vision-foundation (VF) alignment loss of VA-VAE (LightningDiT `contperceptual.py`,
 * `LPIPSWithDiscriminator.forward`), between the projected latent z' and the foundation features f, both
 * [B, C, h, w] with the same C (the projection maps the latent to the foundation width first).
 */

export interface VFLossOptions {
  /** m1: cosines above 1 − m1 cost nothing. */
  cosMargin?: number;
  /** m2: similarity differences below m2 cost nothing. */
  distmatMargin?: number;
  cosWeight?: number;
  distmatWeight?: number;
}

function checkPair(what: string, z: Tensor, f: Tensor): void {
  if (z.rank !== 4 || f.rank !== 4 || z.shape.some((s, i) => s !== f.shape[i])) {
    throw new EngineError(`${what}: the projected latent and the foundation features must both be [B, C, h, w] of one shape, got ${fmtShape(z.shape)} and ${fmtShape(f.shape)}`);
  }
}

/** Marginal cosine loss: mean over (b, h, w) of ReLU(1 − m1 − cos(f[b, :, h, w], z'[b, :, h, w])), cosine eps 1e-8. */
export function marginalCosineLoss(zProjected: Tensor, features: Tensor, cosMargin = 0): Tensor {
  checkPair('marginalCosineLoss', zProjected, features);
  return mean(relu(sub(1 - cosMargin, cosineSimilarity(features, zProjected, 1))));
}

/** The [B, N, N] cosine similarities between the N = h·w token vectors of x [B, C, h, w] (normalize eps 1e-12). */
function tokenSimilarities(x: Tensor): Tensor {
  const [b, c, h, w] = x.shape as [number, number, number, number];
  const unit = normalize(reshape(x, [b, c, h * w]), { dim: 1 });
  return matmul(transpose(unit, 1, 2), unit);
}

/**
 * Marginal distance-matrix loss: mean over all B·N² entries (the diagonal included) of
 * ReLU(|S_z'[b, i, j] − S_f[b, i, j]| − m2), with S the token cosine-similarity matrices.
 */
export function marginalDistanceMatrixLoss(zProjected: Tensor, features: Tensor, distmatMargin = 0): Tensor {
  checkPair('marginalDistanceMatrixLoss', zProjected, features);
  return mean(relu(sub(abs(sub(tokenSimilarities(zProjected), tokenSimilarities(features))), distmatMargin)));
}

/** L_vf = distmatWeight·L_mdms + cosWeight·L_mcos (the official defaults: both weights 1, both margins 0). */
export function vfLoss(zProjected: Tensor, features: Tensor, { cosMargin = 0, distmatMargin = 0, cosWeight = 1, distmatWeight = 1 }: VFLossOptions = {}): Tensor {
  const mdms = marginalDistanceMatrixLoss(zProjected, features, distmatMargin);
  const mcos = marginalCosineLoss(zProjected, features, cosMargin);
  return add(mul(mdms, distmatWeight), mul(mcos, cosWeight));
}
