import type { Tensor } from '../../engine/index.js';
import { EngineError } from '../../engine/errors.js';
import { Conv2d } from '../../nn/index.js';
import type { FoundationModel } from '../foundation/aux.js';
import { AutoencoderKL } from './autoencoder.js';
import type { AutoencoderConfig } from './config.js';
import type { DiagonalGaussianDistribution } from './distribution.js';
import type { LPIPS } from './losses/lpips.js';
import { LPIPSWithDiscriminator, type VAVAELossConfig } from './losses/vavae-loss.js';

export interface VAVAEOptions {
  loss?: Partial<VAVAELossConfig>;
  /** Loaded LPIPS weights; needed when the loss's perceptualWeight is above 0. */
  lpips?: LPIPS;
  /** The frozen foundation encoder of the VF loss; without it the model trains as a plain LDM KL-VAE. */
  foundation?: FoundationModel;
}

export interface VAVAEForward {
  reconstruction: Tensor;
  posterior: DiagonalGaussianDistribution;
  /** The decoded latent: a posterior sample, or the mean. */
  z: Tensor;
  /** linear_proj(z) and the foundation features, when the VF loss is on. */
  vf?: { zProjected: Tensor; features: Tensor };
}

/**
 * The VA-VAE training model (LightningDiT `vavae/ldm/models/autoencoder.py` AutoencoderKL with `use_vf` and
 * `reverse_proj: true`, the released setting): the KL-autoencoder plus the loss (`loss.*`: logvar, LPIPS,
 * discriminator), the frozen foundation encoder (`foundation_model.*`) and `linear_proj`, a 1×1 conv without bias
 * from the embedDim latent channels to the foundation width, applied to the decoded latent (the posterior sample).
 */
export class VAVAE extends AutoencoderKL {
  readonly loss: LPIPSWithDiscriminator;
  readonly foundation_model: FoundationModel | undefined;
  readonly linear_proj: Conv2d | undefined;

  constructor(config: AutoencoderConfig, { loss, lpips, foundation }: VAVAEOptions = {}) {
    super(config);
    this.loss = new LPIPSWithDiscriminator({ discInChannels: config.inChannels, ...loss }, { lpips });
    this.foundation_model = foundation;
    this.linear_proj = foundation ? new Conv2d(config.embedDim, foundation.featureDim, 1, { bias: false }) : undefined;
  }

  /**
   * The official training forward: encode, decode a posterior sample (noise ε given, or drawn) or the mode, and
   * for the VF loss project that same latent and encode the input image with the foundation model.
   */
  trainingForward(x: Tensor, opts: { samplePosterior?: boolean; noise?: Tensor } = {}): VAVAEForward {
    const { reconstruction, posterior, z } = this.forward(x, opts);
    if (!this.foundation_model || !this.linear_proj) return { reconstruction, posterior, z };
    const features = this.foundation_model.forward(x);
    const zProjected = this.linear_proj.forward(z);
    if (features.shape[2] !== zProjected.shape[2] || features.shape[3] !== zProjected.shape[3]) {
      throw new EngineError(
        `VAVAE: the foundation features are ${features.shape[2]}×${features.shape[3]} but the latent is ${zProjected.shape[2]}×${zProjected.shape[3]}; choose the foundation input size so that the grids agree`,
      );
    }
    return { reconstruction, posterior, z, vf: { zProjected, features } };
  }

  /** The encoder's last conv weight (before quant_conv), where the VF adaptive weight is measured. */
  encoderLastLayer(): Tensor {
    return this.encoder.conv_out.weight;
  }
}
