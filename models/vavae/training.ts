import { type Tensor, detach, noGrad, scalar, scope, zerosLike } from '../../engine/index.js';
import { Adam } from '../../nn/index.js';
import type { VAVAE } from './vavae.js';

export interface VAVAETrainerOptions {
  /** Both optimisers' learning rate (official base_learning_rate 1e-4, no LR scaling). */
  lr?: number;
  /** Both optimisers' betas (official (0.5, 0.9)). */
  betas?: readonly [number, number];
  /** Keep linear_proj out of the autoencoder optimiser (official `proj_fix`). */
  projFix?: boolean;
}

/** One step's losses and weights, detached (0-d tensors). */
export interface VAVAEStepLog {
  loss: Tensor;
  nllLoss: Tensor;
  klLoss: Tensor;
  /** Absent while the GAN term is off (the discriminator did not run). */
  gLoss?: Tensor;
  dWeight: Tensor;
  discFactor: number;
  vfLoss?: Tensor;
  vfWeight?: Tensor;
  discLoss: Tensor;
}

/**
 * The official VA-VAE training step (manual optimisation in `vavae/ldm/models/autoencoder.py`): forward with a
 * posterior sample → generator loss → autoencoder Adam step → discriminator loss on the same, detached
 * reconstructions → discriminator Adam step. The autoencoder optimiser holds the encoder, decoder, quant_conv,
 * post_quant_conv and linear_proj (unless projFix); the discriminator's, the discriminator. The loss's logvar
 * parameter is in neither, so it stays fixed, as officially.
 *
 * `globalStep` counts optimiser steps as Lightning 2.x does with two manual optimisers: it advances after each of
 * them, so twice per iteration, and the discriminator loss sees the count after the autoencoder's step. Loss
 * configs' discStart is in these units (the official 5001 ≈ 2,500 iterations).
 *
 * While disc_factor is 0 (discFactor 0, or before discStart) the official step runs the discriminator only to
 * multiply its losses by 0; here it does not run (see `LPIPSWithDiscriminator.generatorLoss`). The discriminator's
 * Adam step is still taken, with the exactly-zero gradients the official backward gives: it advances Adam's step
 * count and decays its moments, which changes later updates, so skipping it would not be the same.
 */
export class VAVAETrainer {
  readonly aeOptimizer: Adam;
  readonly discOptimizer: Adam;
  globalStep = 0;

  constructor(readonly model: VAVAE, { lr = 1e-4, betas = [0.5, 0.9], projFix = false }: VAVAETrainerOptions = {}) {
    const m = model;
    const aeParameters = [
      ...m.encoder.parameters(),
      ...m.decoder.parameters(),
      ...m.quant_conv.parameters(),
      ...m.post_quant_conv.parameters(),
      ...(m.linear_proj && !projFix ? m.linear_proj.parameters() : []),
    ];
    this.aeOptimizer = new Adam(aeParameters, { lr, betas });
    this.discOptimizer = new Adam(m.loss.discriminator.parameters(), { lr, betas });
  }

  /** One iteration on a batch of images in [−1, 1]; `noise` fixes the posterior sample's ε (default: drawn). */
  step(images: Tensor, { noise }: { noise?: Tensor } = {}): VAVAEStepLog {
    const { model } = this;
    return scope(() => {
      // Also drops the gradients that the last step left on parameters no optimiser owns (logvar).
      model.zeroGrad();
      const out = model.trainingForward(images, { noise });
      const g = model.loss.generatorLoss({
        inputs: images,
        reconstructions: out.reconstruction,
        posterior: out.posterior,
        globalStep: this.globalStep,
        decoderLastLayer: model.lastLayer(),
        vf: out.vf && { ...out.vf, encoderLastLayer: model.encoderLastLayer() },
      });
      this.aeOptimizer.zeroGrad();
      g.loss.backward();
      this.aeOptimizer.step();
      this.globalStep++;

      // The generator loss's backward also reached the discriminator; those gradients are not its own.
      this.discOptimizer.zeroGrad();
      let discLoss: Tensor;
      if (model.loss.discFactorAt(this.globalStep) > 0) {
        discLoss = model.loss.discriminatorLoss(images, out.reconstruction, this.globalStep).loss;
        discLoss.backward();
      } else {
        discLoss = scalar(0, { dtype: images.dtype, backend: images.backend });
        // What the official backward of 0·L_D leaves on every discriminator parameter.
        for (const p of model.loss.discriminator.parameters()) {
          const zero = noGrad(() => zerosLike(p));
          zero.persistent = p.persistent;
          p.grad = zero;
        }
      }
      this.discOptimizer.step();
      this.globalStep++;

      return {
        loss: detach(g.loss),
        nllLoss: detach(g.nllLoss),
        klLoss: detach(g.klLoss),
        gLoss: g.gLoss && detach(g.gLoss),
        dWeight: g.dWeight,
        discFactor: g.discFactor,
        vfLoss: g.vfLoss && detach(g.vfLoss),
        vfWeight: g.vfWeight,
        discLoss: detach(discLoss),
      };
    });
  }
}
