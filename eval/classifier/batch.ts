import { type Tensor, fromArray } from '../../engine/index.js';
import type { ImageDataset } from '../../train/data/images.js';

/** Images `indices` of a data set as a float32 batch [B, C, S, S] (values as the data set gives them), with labels. */
export function batchOf(dataset: ImageDataset, indices: ArrayLike<number>): { images: Tensor; labels: Int32Array } {
  const plane = dataset.channels * dataset.imageSize * dataset.imageSize;
  const values = new Float32Array(indices.length * plane);
  const labels = new Int32Array(indices.length);
  for (let b = 0; b < indices.length; b++) {
    const sample = dataset.read(indices[b]!, false)!;
    values.set(sample.pixels, b * plane);
    labels[b] = sample.label;
  }
  return { images: fromArray(values, [indices.length, dataset.channels, dataset.imageSize, dataset.imageSize]), labels };
}
