import { loadSafetensors } from '../engine/index.js';
import { AuxFoundationModel, MNIST_CLASSIFIER_WEIGHTS, MnistClassifier, MnistClassifierFoundation, createDinov2 } from '../models/foundation/index.js';
import { LightningDiT, type LightningDiTConfig } from '../models/lightningdit/index.js';
import { AutoencoderKL, type AutoencoderConfig, LPIPS, VAVAE } from '../models/vavae/index.js';
import { type Checkpoint, disposeAll, loadCheckpoint, loadInto, section } from './checkpoint.js';
import type { TrainDitConfig, TrainVaeConfig } from './config/schema.js';
import { TrainError } from './errors.js';

/*
 * Models built from configurations and checkpoints. Frozen helpers (the foundation model, LPIPS) come from their
 * own weight files and are left out of checkpoints.
 */

/** Keys of the VA-VAE training model that are frozen and loaded from their own files, never checkpointed. */
export const FROZEN_PREFIXES = ['foundation_model.', 'loss.perceptual_loss.'];

export function autoencoderConfig(model: TrainVaeConfig['model']): AutoencoderConfig {
  return { ...model, doubleZ: true };
}

async function loadWeights(file: string, what: string) {
  try {
    return (await loadSafetensors(file)).tensors;
  } catch (e) {
    throw new TrainError(`cannot load the ${what} weights from ${file}: ${(e as Error).message}`);
  }
}

/** The VA-VAE training model: autoencoder, loss (discriminator, LPIPS) and foundation model. */
export async function buildVavae(config: TrainVaeConfig): Promise<VAVAE> {
  let lpips: LPIPS | undefined;
  if (config.loss.perceptualWeight > 0) {
    if (!config.lpips) throw new TrainError('loss.perceptualWeight > 0 needs LPIPS weights: set lpips.weights to a safetensors file (VGG16 + LPIPS v0.1), or set loss.perceptualWeight to 0');
    if (config.model.inChannels !== 3) throw new TrainError(`LPIPS compares RGB images; with ${config.model.inChannels}-channel images set loss.perceptualWeight to 0`);
    lpips = new LPIPS();
    const tensors = await loadWeights(config.lpips.weights, 'LPIPS');
    loadInto(lpips, tensors, config.lpips.weights, 'LPIPS');
    disposeAll(tensors);
  }
  const foundation = config.foundation ? await buildFoundation(config.foundation) : undefined;
  const latentSide = config.model.resolution / 2 ** (config.model.chMult.length - 1);
  if (foundation && foundation.gridSize !== latentSide) {
    throw new TrainError(`the foundation model's feature grid is ${foundation.gridSize}×${foundation.gridSize} but the latent grid is ${latentSide}×${latentSide} (resolution ${config.model.resolution}, ${config.model.chMult.length - 1} downsamplings): the VF loss compares them position by position; pick a foundation layer or input size whose grid matches`);
  }
  return new VAVAE(autoencoderConfig(config.model), { loss: config.loss, lpips, foundation });
}

/** The frozen foundation encoder of the VF loss, with its weights loaded. */
async function buildFoundation(config: NonNullable<TrainVaeConfig['foundation']>): Promise<AuxFoundationModel | MnistClassifierFoundation> {
  if (config.kind === 'dinov2') {
    const vit = createDinov2(config.variant);
    const tensors = await loadWeights(config.weights, 'DINOv2');
    loadInto(vit, tensors, config.weights, 'DINOv2');
    disposeAll(tensors);
    return new AuxFoundationModel(vit, config.inputSize);
  }
  const file = config.weights ?? MNIST_CLASSIFIER_WEIGHTS;
  const classifier = new MnistClassifier();
  const tensors = await loadWeights(file, 'MNIST classifier');
  loadInto(classifier, tensors, file, 'MNIST classifier');
  disposeAll(tensors);
  return new MnistClassifierFoundation(classifier, config.layer);
}

/** The autoencoder of a train-vae checkpoint (or run folder), for encoding and decoding. */
export async function loadAutoencoder(where: string): Promise<{ model: AutoencoderKL; checkpoint: Checkpoint }> {
  const checkpoint = await loadCheckpoint(where, 'train-vae');
  const config = checkpoint.meta.config as TrainVaeConfig;
  const model = new AutoencoderKL(autoencoderConfig(config.model));
  const weights = section(checkpoint.tensors, 'model.');
  const own = new Map([...weights].filter(([k]) => /^(encoder|decoder|quant_conv|post_quant_conv)\./.test(k)));
  loadInto(model, own, checkpoint.path, 'autoencoder');
  disposeAll(checkpoint.tensors);
  return { model: model.eval(), checkpoint };
}

/** LightningDiT for latents of shape [C, h, w] and `numClasses` classes. */
export function ditConfig(model: TrainDitConfig['model'], latentShape: readonly number[], numClasses: number): LightningDiTConfig {
  const [channels, side, width] = latentShape as [number, number, number];
  if (side !== width) throw new TrainError(`LightningDiT needs square latents, these are ${side}×${width}`);
  if (side % model.patchSize !== 0) throw new TrainError(`model.patchSize ${model.patchSize} does not divide the latent side ${side}`);
  if (model.hiddenSize % model.numHeads !== 0) throw new TrainError(`model.hiddenSize ${model.hiddenSize} does not split into ${model.numHeads} heads`);
  return { ...model, inputSize: side, inChannels: channels, numClasses };
}

export function buildDit(config: LightningDiTConfig): LightningDiT {
  return new LightningDiT(config);
}
