import { fileURLToPath } from 'node:url';
import { type Tensor, flatten, interpolateBilinear, noGrad, pad, relu } from '../../engine/index.js';
import { EngineError, fmtShape } from '../../engine/errors.js';
import { Conv2d, Linear, Module } from '../../nn/index.js';
import type { FoundationModel } from './aux.js';

/** The checked-in weights, written by `npm run train-classifier` (eval/classifier/train.ts). */
export const MNIST_CLASSIFIER_WEIGHTS = fileURLToPath(new URL('./weights/mnist-classifier.safetensors', import.meta.url));

/** Side of the images the classifier was trained on: MNIST's 28×28 digits padded with black to 32×32. */
export const CLASSIFIER_SIDE = 32;
const MNIST_SIDE = 28;

/**
 * A small CNN trained by this project on MNIST: three stride-2 convolutions (32 → 16 → 8 → 4), a 128-wide hidden
 * layer and ten logits. It serves twice: as the frozen foundation encoder of the VF loss on MNIST (no pre-trained
 * DINOv2 or MAE weights can be downloaded here), and as eval/'s judge of generated digits (Fréchet distance,
 * precision/recall and conditional accuracy on its hidden features). Input: [N, 1, 32, 32] grey images in [−1, 1]
 * (train/data's MNIST layout); 28×28 digits are padded with black (−1) to 32×32 first, as that loader does.
 */
export class MnistClassifier extends Module {
  static readonly featureDim = 128;
  static readonly classes = 10;

  readonly conv1 = new Conv2d(1, 16, 5, { stride: 2, padding: 2 });
  readonly conv2 = new Conv2d(16, 32, 3, { stride: 2, padding: 1 });
  readonly conv3 = new Conv2d(32, 64, 3, { stride: 2, padding: 1 });
  readonly fc1 = new Linear(64 * 4 * 4, MnistClassifier.featureDim);
  readonly fc2 = new Linear(MnistClassifier.featureDim, MnistClassifier.classes);

  /** The feature maps after conv2 ([N, 32, 8, 8]) and conv3 ([N, 64, 4, 4]), each after its ReLU. */
  featureMaps(images: Tensor): { conv2: Tensor; conv3: Tensor } {
    const side = images.shape[2];
    if (images.rank !== 4 || images.shape[1] !== 1 || side !== images.shape[3] || (side !== CLASSIFIER_SIDE && side !== MNIST_SIDE)) {
      throw new EngineError(`MnistClassifier: needs grey images [N, 1, 32, 32] (or 28×28), got ${fmtShape(images.shape)}`);
    }
    const border = (CLASSIFIER_SIDE - MNIST_SIDE) / 2;
    const x = side === CLASSIFIER_SIDE ? images : pad(images, [border, border, border, border], -1);
    const conv2 = relu(this.conv2.forward(relu(this.conv1.forward(x))));
    return { conv2, conv3: relu(this.conv3.forward(conv2)) };
  }

  /** The hidden layer after its ReLU, [N, 128]. */
  features(images: Tensor): Tensor {
    return relu(this.fc1.forward(flatten(this.featureMaps(images).conv3, 1)));
  }

  /** Class logits from features. */
  classify(features: Tensor): Tensor {
    return this.fc2.forward(features);
  }

  forward(images: Tensor): Tensor {
    return this.classify(this.features(images));
  }
}

/** Which feature map the VF loss aligns to: conv2 gives a 32-wide map at 1/4 of the input side, conv3 a 64-wide one at 1/8. */
export type MnistFoundationLayer = 'conv2' | 'conv3';

const layerGeometry: Record<MnistFoundationLayer, { width: number; stride: number }> = {
  conv2: { width: 32, stride: 4 },
  conv3: { width: 64, stride: 8 },
};

/**
 * The MNIST classifier as the VF loss's foundation encoder, in the role DINOv2 plays officially (compare
 * AuxFoundationModel): images are resized bilinearly to 32×32, encoded without gradients, and one convolutional
 * feature map [B, C, 32/stride, 32/stride] is returned. Pick the layer whose grid equals the latent grid (conv3
 * for f4 on 16×16 images or f8 on 32×32; conv2 for f4 on 32×32). Frozen; keys `model.conv1.weight`, ….
 */
export class MnistClassifierFoundation extends Module implements FoundationModel {
  readonly model: MnistClassifier;

  constructor(model: MnistClassifier, readonly layer: MnistFoundationLayer = 'conv3') {
    super();
    this.model = model;
    this.model.requiresGrad_(false).eval();
  }

  get featureDim(): number {
    return layerGeometry[this.layer].width;
  }

  /** The side of the feature grid. */
  get gridSize(): number {
    return CLASSIFIER_SIDE / layerGeometry[this.layer].stride;
  }

  forward(images: Tensor): Tensor {
    if (images.rank !== 4 || images.shape[1] !== 1) throw new EngineError(`MnistClassifierFoundation: expected grey images [B, 1, H, W], got ${fmtShape(images.shape)}`);
    return noGrad(() => {
      const sameSize = images.shape[2] === CLASSIFIER_SIDE && images.shape[3] === CLASSIFIER_SIDE;
      const resized = sameSize ? images : interpolateBilinear(images, [CLASSIFIER_SIDE, CLASSIFIER_SIDE]);
      return this.model.featureMaps(resized)[this.layer];
    });
  }
}
