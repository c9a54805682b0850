import { fileURLToPath } from 'node:url';
import { type Tensor, flatten, pad, relu } from '../../engine/index.js';
import { EngineError, fmtShape } from '../../engine/errors.js';
import { Conv2d, Linear, Module } from '../../nn/index.js';
import type { ExtractorOutput, FeatureExtractor } from '../features.js';
import { loadWeights } from '../weights.js';

/** The checked-in weights, written by `tsx eval/classifier/train.ts`. */
export const DEFAULT_WEIGHTS = fileURLToPath(new URL('./weights/mnist-classifier.safetensors', import.meta.url));

/** Side of the images the classifier judges: the pipeline's MNIST, 28×28 digits padded with black to 32×32. */
export const CLASSIFIER_SIDE = 32;
const MNIST_SIDE = 28;

/**
 * A small CNN that judges generated MNIST digits: three stride-2 convolutions (32 → 16 → 8 → 4), a 128-wide
 * hidden layer whose activations are the features the Fréchet distance and precision/recall compare, and ten
 * logits. Input: [N, 1, 32, 32] grey images in [−1, 1] (train/data's `openMnist` layout); original 28×28 digits
 * are padded with black (−1) to 32×32 first, as that loader does.
 */
export class MnistClassifier extends Module {
  static readonly featureDim = 128;
  static readonly classes = 10;

  readonly conv1 = new Conv2d(1, 16, 5, { stride: 2, padding: 2 });
  readonly conv2 = new Conv2d(16, 32, 3, { stride: 2, padding: 1 });
  readonly conv3 = new Conv2d(32, 64, 3, { stride: 2, padding: 1 });
  readonly fc1 = new Linear(64 * 4 * 4, MnistClassifier.featureDim);
  readonly fc2 = new Linear(MnistClassifier.featureDim, MnistClassifier.classes);

  /** The hidden layer after its ReLU, [N, 128]. */
  features(images: Tensor): Tensor {
    const side = images.shape[2];
    if (images.rank !== 4 || images.shape[1] !== 1 || side !== images.shape[3] || (side !== CLASSIFIER_SIDE && side !== MNIST_SIDE)) {
      throw new EngineError(`MnistClassifier: needs grey images [N, 1, 32, 32] (or 28×28), got ${fmtShape(images.shape)}`);
    }
    const border = (CLASSIFIER_SIDE - MNIST_SIDE) / 2;
    const x = side === CLASSIFIER_SIDE ? images : pad(images, [border, border, border, border], -1);
    let h = relu(this.conv1.forward(x));
    h = relu(this.conv2.forward(h));
    h = relu(this.conv3.forward(h));
    return relu(this.fc1.forward(flatten(h, 1)));
  }

  /** Class logits from features. */
  classify(features: Tensor): Tensor {
    return this.fc2.forward(features);
  }

  forward(images: Tensor): Tensor {
    return this.classify(this.features(images));
  }
}

/** The classifier with the checked-in (or given) weights, in eval mode and frozen. */
export async function loadMnistClassifier(path = DEFAULT_WEIGHTS): Promise<MnistClassifier> {
  return (await loadWeights(new MnistClassifier(), path)).eval().requiresGrad_(false);
}

export function mnistClassifierExtractor(model: MnistClassifier): FeatureExtractor {
  return {
    name: 'mnist-classifier',
    dim: MnistClassifier.featureDim,
    classes: MnistClassifier.classes,
    extract(images: Tensor): ExtractorOutput {
      const features = model.features(images);
      return { features, logits: model.classify(features) };
    },
  };
}
