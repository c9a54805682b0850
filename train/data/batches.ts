import { type Tensor, fromArray } from '../../engine/index.js';
import { DataError } from '../errors.js';
import type { ImageDataset } from './images.js';
import type { LatentSet } from './latents.js';
import type { DataOrder } from './order.js';

/*
 * Training batches: samples in the run's data order, each mirrored when its coin falls under the flip
 * probability, assembled on the CPU and uploaded as one tensor. An image that the data set skips (corrupt,
 * with skipping on) is replaced by the next one in the order.
 */

export interface Batch {
  /** [N, C, H, W] float32. */
  x: Tensor;
  /** [N] int32 class indices. */
  y: Tensor;
}

export function imageBatch(dataset: ImageDataset, order: DataOrder, size: number, flipProb: number): Batch {
  const { channels, imageSize } = dataset;
  const plane = channels * imageSize * imageSize;
  const pixels = new Float32Array(size * plane);
  const labels = new Int32Array(size);
  let filled = 0;
  let misses = 0;
  while (filled < size) {
    const { index, coin } = order.next();
    const sample = dataset.read(index, coin < flipProb);
    if (!sample) {
      if (++misses > dataset.size) throw new DataError(dataset.description, 'no image in it could be decoded');
      continue;
    }
    pixels.set(sample.pixels, filled * plane);
    labels[filled++] = sample.label;
  }
  return { x: fromArray(pixels, [size, channels, imageSize, imageSize]), y: fromArray(labels, [size], { dtype: 'int32' }) };
}

export interface LatentNormalisation {
  latentNorm: boolean;
  latentMultiplier: number;
}

/** Latents standardised per channel as the official dataset does: (z − mean)/std · multiplier (or z · multiplier). */
export function latentBatch(set: LatentSet, order: DataOrder, size: number, flipProb: number, norm: LatentNormalisation): Batch {
  const [c, h, w] = set.latentShape as [number, number, number];
  const plane = h * w;
  const values = new Float32Array(size * c * plane);
  const labels = new Int32Array(size);
  for (let b = 0; b < size; b++) {
    const { index, coin } = order.next();
    const { latent, label } = set.read(index, coin < flipProb);
    for (let ch = 0; ch < c; ch++) {
      const mean = norm.latentNorm ? set.mean[ch]! : 0;
      const scale = (norm.latentNorm ? 1 / set.std[ch]! : 1) * norm.latentMultiplier;
      for (let p = 0; p < plane; p++) values[(b * c + ch) * plane + p] = (latent[ch * plane + p]! - mean) * scale;
    }
    labels[b] = label;
  }
  return { x: fromArray(values, [size, c, h, w]), y: fromArray(labels, [size], { dtype: 'int32' }) };
}
