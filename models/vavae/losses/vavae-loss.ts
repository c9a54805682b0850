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

/** The generator loss's terms, each still connected to the graph. */
export interface GeneratorTerms {
  /** Σ(|x − x̂| + perceptualWeight·LPIPS) / B with the logvar parameter applied. */
  nllLoss: Tensor;
  /** Σ KL / B. */
  klLoss: Tensor;
  /** −mean(D(x̂)); absent when the GAN term is off and the discriminator was not run (see `generatorLoss`). */
  gLoss?: Tensor;
  /** L_vf, when the VF inputs were given. */
  vfLoss?: Tensor;
}

/** The weights of the GAN and VF terms: detached 0-d tensors. */
export interface GeneratorWeights {
  /** The GAN adaptive weight times discWeight (0 when the GAN term is off). */
  dWeight: Tensor;
  /** The adaptive VF weight times vfWeight (adaptiveVf), or vfWeight alone. */
  vfWeight?: Tensor;
}

export interface GeneratorLoss extends GeneratorTerms, GeneratorWeights {
  loss: Tensor;
  discFactor: number;
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
   * L = L_nll + klWeight·L_kl + d_weight·disc_factor·L_g + vf_weight·L_vf (see `generatorTerms`,
   * `generatorWeights` and `combineGeneratorLoss`). The discriminator runs in its current mode (train mode in
   * training: batch statistics, running averages updated), and its parameters receive gradients from L_g too, which
   * the official step discards (the discriminator's optimiser zeroes them before its own step).
   *
   * Deviation: while disc_factor is 0 (discFactor 0, or before discStart) the discriminator does not run, and L_g
   * and d_weight are left out. Officially they are computed and multiplied by 0, which adds exactly zero to the
   * loss and to every autoencoder gradient, so the autoencoder's update is the same; only the logs lose L_g and
   * d_weight (reported as 0), and the discriminator's BatchNorm running averages skip this batch (training mode
   * never reads them).
   */
  generatorLoss(inputs: GeneratorLossInputs): GeneratorLoss {
    const discFactor = this.discFactorAt(inputs.globalStep);
    const terms = this.generatorTerms(inputs, { adversarial: discFactor > 0 });
    const weights = this.generatorWeights(terms, inputs.decoderLastLayer, inputs.vf?.encoderLastLayer);
    return { ...terms, ...weights, discFactor, loss: this.combineGeneratorLoss(terms, weights, discFactor) };
  }

  /** taming's disc_factor at a step: discFactor from discStart on, 0 before. */
  discFactorAt(globalStep: number): number {
    return adoptWeight(this.config.discFactor, globalStep, this.config.discStart);
  }

  /** The loss terms; `adversarial: false` leaves out L_g and so does not run the discriminator. */
  generatorTerms(
    { inputs, reconstructions, posterior, vf }: Omit<GeneratorLossInputs, 'globalStep' | 'decoderLastLayer'>,
    { adversarial = true }: { adversarial?: boolean } = {},
  ): GeneratorTerms {
    const nllLoss = this.reconstructionLoss(inputs, reconstructions);
    const klLoss = div(sum(posterior.kl()), posterior.mean.shape[0]!);
    const gLoss = adversarial ? generatorAdversarialLoss(this.discriminator.forward(reconstructions)) : undefined;
    const vfLossValue = vf && vfLoss(vf.zProjected, vf.features, this.config);
    return { nllLoss, klLoss, ...(gLoss && { gLoss }), ...(vfLossValue && { vfLoss: vfLossValue }) };
  }

  /**
   * d_weight = adaptive weight of L_g against L_nll at the decoder's last conv (max 10⁴) × discWeight, computed
   * whenever discFactor > 0 and L_g is there (officially also before discStart, see `generatorLoss`); vf_weight =
   * adaptive weight of L_vf at the encoder's last conv (max 10⁸) × vfWeight when adaptiveVf is on, else vfWeight.
   */
  generatorWeights(terms: GeneratorTerms, decoderLastLayer: Tensor, encoderLastLayer?: Tensor): GeneratorWeights {
    const c = this.config;
    const constant = (v: number) => scalar(v, { dtype: terms.nllLoss.dtype, backend: terms.nllLoss.backend });
    const dWeight = c.discFactor > 0 && terms.gLoss ? mul(adaptiveWeight(terms.nllLoss, terms.gLoss, decoderLastLayer, 1e4), c.discWeight) : constant(0);
    if (!terms.vfLoss) return { dWeight };
    if (!c.adaptiveVf) return { dWeight, vfWeight: constant(c.vfWeight) };
    if (!encoderLastLayer) throw new EngineError('LPIPSWithDiscriminator: the adaptive VF weight needs the encoder\'s last conv weight');
    return { dWeight, vfWeight: mul(adaptiveWeight(terms.nllLoss, terms.vfLoss, encoderLastLayer, 1e8), c.vfWeight) };
  }

  /**
   * L_nll + klWeight·L_kl + d_weight·disc_factor·L_g (+ vf_weight·L_vf), summed in the official order; without L_g
   * (GAN term off, disc_factor 0) the GAN summand, an exact zero, is left out.
   */
  combineGeneratorLoss(terms: GeneratorTerms, weights: GeneratorWeights, discFactor: number): Tensor {
    let loss = add(terms.nllLoss, mul(terms.klLoss, this.config.klWeight));
    if (terms.gLoss) loss = add(loss, mul(mul(weights.dWeight, discFactor), terms.gLoss));
    else if (discFactor !== 0) throw new EngineError(`LPIPSWithDiscriminator: disc_factor is ${discFactor} but the terms have no GAN loss`);
    if (!terms.vfLoss) return loss;
    if (!weights.vfWeight) throw new EngineError('LPIPSWithDiscriminator: a VF loss needs a VF weight');
    return add(loss, mul(weights.vfWeight, terms.vfLoss));
  }

  /**
   * The discriminator loss of the official forward with optimizer_idx 1: disc_factor · d_loss(D(x), D(x̂)) with both
   * images detached, real and fake in separate forward calls (separate BatchNorm batch statistics).
   */
  discriminatorLoss(inputs: Tensor, reconstructions: Tensor, globalStep: number): DiscriminatorLoss {
    const logitsReal = this.discriminator.forward(detach(inputs));
    const logitsFake = this.discriminator.forward(detach(reconstructions));
    const discFactor = this.discFactorAt(globalStep);
    const loss = mul(discriminatorLosses[this.config.discLoss](logitsReal, logitsFake), discFactor);
    return { loss, logitsReal, logitsFake, discFactor };
  }
}
