import { type Tensor, interpolateBilinear, noGrad } from '../../engine/index.js';
import { EngineError, fmtShape } from '../../engine/errors.js';
import { Module } from '../../nn/index.js';
import type { VisionTransformer } from './vit.js';

/** A frozen image encoder that gives a feature map [B, featureDim, h, w] for the VF loss. */
export interface FoundationModel extends Module {
  readonly featureDim: number;
  forward(images: Tensor): Tensor;
}

/**
 * The official `aux_foundation_model` for DINOv2 (LightningDiT `vavae/ldm/models/foundation_models.py`): the image
 * the VAE gets ([−1, 1], **no** ImageNet normalisation — an acknowledged upstream quirk kept for fidelity) is
 * resized bilinearly (align_corners=False) to inputSize² (224 officially), encoded without recording gradients,
 * and its patch tokens are returned as [B, D, inputSize/patch, inputSize/patch] (16×16 for 224 and patch 14,
 * matching the f16 latent of a 256² image). The ViT is the `model` submodule (keys `model.blocks.0...`), frozen.
 */
export class AuxFoundationModel extends Module implements FoundationModel {
  readonly model: VisionTransformer;

  constructor(model: VisionTransformer, readonly inputSize = 224) {
    super();
    if (inputSize % model.config.patchSize !== 0) throw new EngineError(`AuxFoundationModel: inputSize ${inputSize} is not a multiple of the patch ${model.config.patchSize}`);
    this.model = model;
    this.model.requiresGrad_(false).eval();
  }

  get featureDim(): number {
    return this.model.config.embedDim;
  }

  /** The side of the feature grid. */
  get gridSize(): number {
    return this.inputSize / this.model.config.patchSize;
  }

  forward(images: Tensor): Tensor {
    if (images.rank !== 4) throw new EngineError(`AuxFoundationModel: expected images [B, C, H, W], got ${fmtShape(images.shape)}`);
    return noGrad(() => {
      const sameSize = images.shape[2] === this.inputSize && images.shape[3] === this.inputSize;
      const resized = sameSize ? images : interpolateBilinear(images, [this.inputSize, this.inputSize]);
      return this.model.forwardPatchFeatures(resized);
    });
  }
}
