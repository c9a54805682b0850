import type { Tensor } from '../../engine/index.js';
import { MNIST_CLASSIFIER_WEIGHTS, MnistClassifier } from '../../models/foundation/index.js';
import type { ExtractorOutput, FeatureExtractor } from '../features.js';
import { loadWeights } from '../weights.js';

/** The classifier with the checked-in (or given) weights, in eval mode and frozen. */
export async function loadMnistClassifier(path = MNIST_CLASSIFIER_WEIGHTS): Promise<MnistClassifier> {
  return (await loadWeights(new MnistClassifier(), path)).eval().requiresGrad_(false);
}

/** The classifier as eval's feature extractor: its 128-wide hidden layer, and its logits for conditional accuracy. */
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
