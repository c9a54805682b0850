import { type Tensor, abs, add, detach, div, exp, mul, scalar, sub, sum } from '../../../engine/index.js';
import { EngineError } from '../../../engine/errors.js';
import { Module, parameter } from '../../../nn/index.js';
import type { DiagonalGaussianDistribution } from '../distribution.js';
import { type DiscriminatorLossKind, adaptiveWeight, adoptWeight, discriminatorLosses, generatorAdversarialLoss } from './adversarial.js';
import { NLayerDiscriminator } from './discriminator.js';
import type { LPIPS } from './lpips.js';
import { vfLoss } from './vf.js';

/** The hyper-parameters of the official `LPIPSWithDiscriminator` (LightningDiT `contperceptual.py`), in camelCase. */
export interface VAVAELossConfig {
  /** Step from which the discriminator terms count (`disc_start`, in Lightning `global_step` units). */
  discStart: number;
  logvarInit: number;
  klWeight: number;
  discNumLayers: number;
  discInChannels: number;
  /** The discriminator factor once active (`disc_factor`); 0 also skips the GAN adaptive weight. */
  discFactor: number;
  /** Multiplies the GAN adaptive weight (`disc_weight`). */
  discWeight: number;
  perceptualWeight: number;
  discLoss: DiscriminatorLossKind;
  /** Multiplies the VF term, after the adaptive weight when that is on (`vf_weight`). */
  vfWeight: number;
  adaptiveVf: boolean;
  cosMargin: number;
  distmatMargin: number;
  distmatWeight: number;
  cosWeight: number;
}

/** The class defaults of the official constructor. */
export const DEFAULT_VAVAE_LOSS_CONFIG: VAVAELossConfig = {
  discStart: 0,
  logvarInit: 0,
  klWeight: 1,
  discNumLayers: 3,
  discInChannels: 3,
  discFactor: 1,
  discWeight: 1,
  perceptualWeight: 1,
  discLoss: 'hinge',
  vfWeight: 1e2,
  adaptiveVf: false,
  cosMargin: 0,
  distmatMargin: 0,
  distmatWeight: 1,
  cosWeight: 1,
};

/** The released recipe's last stage (`vavae/configs/f16d32_vfdinov2.yaml`, `tokenizer/configs/vavae_f16d32.yaml`). */
export const VAVAE_F16D32_LOSS_CONFIG: VAVAELossConfig = {
  ...DEFAULT_VAVAE_LOSS_CONFIG,
  discStart: 5001,
  klWeight: 1e-6,
  discWeight: 0.5,
  vfWeight: 0.1,
  adaptiveVf: true,
  cosMargin: 0.5,
  distmatMargin: 0.25,
};

/** What the generator step needs besides the images: the posterior, the step, and the layers of the adaptive weights. */
export interface GeneratorLossInputs {
  inputs: Tensor;
  reconstructions: Tensor;
  posterior: DiagonalGaussianDistribution;
  globalStep: number;
  /** The decoder's last conv weight (GAN adaptive weight). */
  decoderLastLayer: Tensor;
  /** The projected latent and the foundation features, when the VF loss is on. */
  vf?: { zProjected: Tensor; features: Tensor; encoderLastLayer: Tensor };
}

export interface GeneratorLoss {
  loss: Tensor;
  /** Σ(|x − x̂| + perceptual·LPIPS) / B with the logvar parameter (0) applied. */
  nllLoss: Tensor;
  klLoss: Tensor;
  gLoss: Tensor;
  /** The GAN adaptive weight times discWeight (0 when discFactor is 0). */
  dWeight: Tensor;
  discFactor: number;
  vfLoss?: Tensor;
  /** The VF weight: adaptive weight times vfWeight, or vfWeight alone. */
  vfWeight?: Tensor;
}

export interface DiscriminatorLoss {
  loss: Tensor;
  logitsReal: Tensor;
  logitsFake: Tensor;
  discFactor: number;
}

/**
 * The VA-VAE training loss (official `LPIPSWithDiscriminator`; keys `logvar`, `perceptual_loss.*`,
 * `discriminator.*`). The reconstruction term is |x − x̂| plus perceptualWeight·LPIPS(x, x̂) per element, divided by
 * exp(logvar) plus logvar, **summed over everything and divided by the batch size**. The `logvar` parameter is in no
 * optimiser officially, so it stays at its initial value.
 *
 * LPIPS needs VGG16 and LPIPS weights that this repository does not ship: pass a loaded `LPIPS` module, or set
 * perceptualWeight to 0 (as for 1-channel images, which LPIPS does not take).
 */
export class LPIPSWithDiscriminator extends Module {
  readonly logvar: Tensor;
  readonly perceptual_loss: LPIPS | undefined;
  readonly discriminator: NLayerDiscriminator;
  readonly config: VAVAELossConfig;

  constructor(config: Partial<VAVAELossConfig> = {}, { lpips }: { lpips?: LPIPS } = {}) {
    super();
    this.config = { ...DEFAULT_VAVAE_LOSS_CONFIG, ...config };
    if (this.config.perceptualWeight > 0 && !lpips) {
      throw new EngineError(
        'LPIPSWithDiscriminator: perceptualWeight > 0 needs LPIPS weights (VGG16 features and the LPIPS v0.1 linear layers), which are not bundled: pass { lpips } with an LPIPS module loaded from them, or set perceptualWeight to 0',
      );
    }
    this.logvar = parameter(scalar(this.config.logvarInit));
    this.perceptual_loss = lpips;
    this.discriminator = new NLayerDiscriminator({ inputChannels: this.config.discInChannels, numLayers: this.config.discNumLayers });
  }

  /** Σ(rec / exp(logvar) + logvar) / B, with rec = |x − x̂| (+ perceptualWeight·LPIPS broadcast over each image). */
  reconstructionLoss(inputs: Tensor, reconstructions: Tensor): Tensor {
    let rec = abs(sub(inputs, reconstructions));
    if (this.config.perceptualWeight > 0) rec = add(rec, mul(this.perceptual_loss!.forward(inputs, reconstructions), this.config.perceptualWeight));
    const nll = add(div(rec, exp(this.logvar)), this.logvar);
    return div(sum(nll), inputs.shape[0]!);
  }

  /**
   * The generator (autoencoder) loss of the official forward with optimizer_idx 0:
   * L = L_nll + klWeight·L_kl + d_weight·disc_factor·L_g + vf_weight·L_vf, where L_kl = Σ KL / B, L_g = −mean(D(x̂)),
   * d_weight = adaptive weight at the decoder's last conv (max 10⁴) × discWeight, and vf_weight = adaptive weight at
   * the encoder's last conv (max 10⁸) × vfWeight when adaptiveVf is on. The discriminator runs in its current mode
   * (train mode in training: batch statistics, running averages updated), and its parameters receive gradients
   * from L_g too, which the official step discards (the discriminator's optimiser zeroes them before its own step).
   */
  generatorLoss({ inputs, reconstructions, posterior, globalStep, decoderLastLayer, vf }: GeneratorLossInputs): GeneratorLoss {
    const c = this.config;
    const nllLoss = this.reconstructionLoss(inputs, reconstructions);
    const klLoss = div(sum(posterior.kl()), posterior.mean.shape[0]!);
    const gLoss = generatorAdversarialLoss(this.discriminator.forward(reconstructions));
    const dWeight = c.discFactor > 0 ? mul(adaptiveWeight(nllLoss, gLoss, decoderLastLayer, 1e4), c.discWeight) : scalar(0, { dtype: nllLoss.dtype });
    const discFactor = adoptWeight(c.discFactor, globalStep, c.discStart);
    let loss = add(add(nllLoss, mul(klLoss, c.klWeight)), mul(mul(dWeight, discFactor), gLoss));
    if (!vf) return { loss, nllLoss, klLoss, gLoss, dWeight, discFactor };

    const vfTerm = vfLoss(vf.zProjected, vf.features, c);
    const vfWeight = c.adaptiveVf ? mul(adaptiveWeight(nllLoss, vfTerm, vf.encoderLastLayer, 1e8), c.vfWeight) : scalar(c.vfWeight, { dtype: nllLoss.dtype });
    loss = add(loss, mul(vfWeight, vfTerm));
    return { loss, nllLoss, klLoss, gLoss, dWeight, discFactor, vfLoss: vfTerm, vfWeight };
  }

  /**
   * The discriminator loss of the official forward with optimizer_idx 1: disc_factor · d_loss(D(x), D(x̂)) with both
   * images detached, real and fake in separate forward calls (separate BatchNorm batch statistics).
   */
  discriminatorLoss(inputs: Tensor, reconstructions: Tensor, globalStep: number): DiscriminatorLoss {
    const logitsReal = this.discriminator.forward(detach(inputs));
    const logitsFake = this.discriminator.forward(detach(reconstructions));
    const discFactor = adoptWeight(this.config.discFactor, globalStep, this.config.discStart);
    const loss = mul(discriminatorLosses[this.config.discLoss](logitsReal, logitsFake), discFactor);
    return { loss, logitsReal, logitsFake, discFactor };
  }
}
