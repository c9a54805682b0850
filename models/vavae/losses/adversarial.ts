import { type Tensor, add, clamp, div, exp, grad, gt, log, mean, mul, neg, noGrad, relu, scope, sqrt, sub, sum, where } from '../../../engine/index.js';

/*
 * The adversarial pieces of the VA-VAE loss (taming-transformers `vqperceptual.py`, LightningDiT
 * `contperceptual.py`): the discriminator losses, the start-step switch, and the adaptive weights that balance a
 * loss term against the reconstruction loss by their gradient norms at one layer.
 */

/** ½·[mean(ReLU(1 − D(x))) + mean(ReLU(1 + D(x̂)))]. */
export function hingeDLoss(logitsReal: Tensor, logitsFake: Tensor): Tensor {
  return mul(add(mean(relu(sub(1, logitsReal))), mean(relu(add(1, logitsFake)))), 0.5);
}

/** ½·[mean(softplus(−D(x))) + mean(softplus(D(x̂)))]: the non-saturating GAN loss. */
export function vanillaDLoss(logitsReal: Tensor, logitsFake: Tensor): Tensor {
  return mul(add(mean(softplus(neg(logitsReal))), mean(softplus(logitsFake))), 0.5);
}

export type DiscriminatorLossKind = 'hinge' | 'vanilla';

export const discriminatorLosses: Record<DiscriminatorLossKind, (real: Tensor, fake: Tensor) => Tensor> = {
  hinge: hingeDLoss,
  vanilla: vanillaDLoss,
};

/**
 * log(1 + eˣ) as `F.softplus` (β 1, threshold 20): x itself above the threshold, where the two agree in floating
 * point. The clamp keeps eˣ finite on the branch that `where` discards, so its zero gradient stays zero.
 */
export function softplus(x: Tensor): Tensor {
  return where(gt(x, 20), x, log(add(exp(clamp(x, undefined, 20)), 1)));
}

/** The generator's adversarial loss: −mean(D(x̂)). */
export function generatorAdversarialLoss(logitsFake: Tensor): Tensor {
  return neg(mean(logitsFake));
}

/** taming's `adopt_weight`: `value` (0) before the step `threshold`, `weight` from then on. */
export function adoptWeight(weight: number, globalStep: number, threshold: number, value = 0): number {
  return globalStep < threshold ? value : weight;
}

/** The Frobenius norm of a whole tensor, √Σx² (`torch.norm`). */
function frobenius(t: Tensor): Tensor {
  return sqrt(sum(mul(t, t)));
}

/**
 * The official adaptive weight: clamp(‖∂reference/∂W‖ / (‖∂term/∂W‖ + 10⁻⁴), 0, maxWeight) at the layer weight W,
 * detached (a constant for the backward pass), as a 0-d tensor. The GAN term uses the decoder's last conv and
 * maxWeight 10⁴ (`calculate_adaptive_weight`), the VF term the encoder's last conv and 10⁸
 * (`calculate_adaptive_weight_vf`); the caller multiplies by the hyper-parameter weight. Both losses' graphs are
 * kept for the total loss's backward.
 */
export function adaptiveWeight(reference: Tensor, term: Tensor, layerWeight: Tensor, maxWeight: number): Tensor {
  return scope(() => {
    const [referenceGrad] = grad(reference, [layerWeight], undefined, { retainGraph: true });
    const [termGrad] = grad(term, [layerWeight], undefined, { retainGraph: true });
    return noGrad(() => clamp(div(frobenius(referenceGrad!), add(frobenius(termGrad!), 1e-4)), 0, maxWeight));
  });
}
