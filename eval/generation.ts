import type { Tensor } from '../engine/index.js';
import { EngineError } from '../engine/errors.js';
import { type ClassAccuracy, classAccuracy } from './class-accuracy.js';
import { type ExtractedSet, type FeatureExtractor, FeatureCollector } from './features.js';
import { frechetDistance, gaussianStatistics } from './frechet.js';
import { inceptionScore } from './inception-score.js';
import { precisionRecall } from './precision-recall.js';
import { dequantizeImages, quantizeImages } from './quantize.js';

/*
 * Generation quality, as the official pipeline measures it on saved 8-bit samples (ADM evaluator columns FID, IS,
 * precision, recall; sFID is not computed), seen through a feature extractor: InceptionV3 for ImageNet-style images,
 * the project's MNIST classifier for digits. With class labels and a classifying extractor, the class-conditional
 * accuracy of the samples is reported too.
 */

export interface SampleBatch {
  /** [B, C, H, W] in [−1, 1]. */
  images: Tensor;
  /** The class each sample was generated for. */
  labels?: ArrayLike<number>;
}

export interface GenerationInputs {
  samples: Iterable<SampleBatch> | AsyncIterable<SampleBatch>;
  /** Batches of real images [B, C, H, W] in [−1, 1], or their features extracted earlier with the same extractor. */
  reference: Iterable<Tensor> | AsyncIterable<Tensor> | ExtractedSet;
  extractor: FeatureExtractor;
  /** Neighbourhood size of the precision/recall manifolds. */
  k?: number;
  /** Samples per Inception Score split. */
  splitSize?: number;
}

export interface GenerationReport {
  count: number;
  referenceCount: number;
  /** Fréchet distance between the extractor's features of samples and references (FID with InceptionV3). */
  fid: number;
  inceptionScore?: number;
  precision: number;
  recall: number;
  classAccuracy?: ClassAccuracy;
}

/** Features of batches after the round trip through 8-bit images that saving a PNG makes. */
async function collectSaved(collector: FeatureCollector, images: Tensor): Promise<void> {
  const saved = dequantizeImages(await quantizeImages(images), images.shape as [number, number, number, number]);
  await collector.add(saved);
  saved.dispose();
}

export async function extractReference(extractor: FeatureExtractor, batches: Iterable<Tensor> | AsyncIterable<Tensor>): Promise<ExtractedSet> {
  const collector = new FeatureCollector(extractor);
  for await (const images of batches) await collectSaved(collector, images);
  return collector.result();
}

export async function evaluateSamples({ samples, reference, extractor, k = 3, splitSize = 5000 }: GenerationInputs): Promise<GenerationReport> {
  const collector = new FeatureCollector(extractor);
  const labels: number[] = [];
  let labelled = true;
  for await (const batch of samples) {
    await collectSaved(collector, batch.images);
    if (batch.labels && batch.labels.length !== batch.images.shape[0]) throw new EngineError(`evaluateSamples: ${batch.labels.length} labels for ${batch.images.shape[0]} images`);
    if (batch.labels) labels.push(...Array.from(batch.labels));
    else labelled = false;
  }
  const generated = collector.result();
  const real = 'features' in reference ? reference : await extractReference(extractor, reference);
  const report: GenerationReport = {
    count: generated.features.count,
    referenceCount: real.features.count,
    fid: frechetDistance(gaussianStatistics(generated.features), gaussianStatistics(real.features)),
    ...precisionRecall(real.features, generated.features, k),
  };
  if (generated.probabilities) {
    report.inceptionScore = inceptionScore(generated.probabilities, splitSize);
    if (labelled) report.classAccuracy = classAccuracy(generated.probabilities, labels);
  }
  return report;
}
