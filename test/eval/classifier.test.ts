import { stat } from 'node:fs/promises';
import { beforeAll, describe, expect, test } from 'vitest';
import { argmax, noGrad, pad, randn } from '../../engine/index.js';
import { batchOf } from '../../eval/classifier/batch.js';
import { loadMnistClassifier, mnistClassifierExtractor } from '../../eval/classifier/model.js';
import { MNIST_CLASSIFIER_WEIGHTS, MnistClassifier } from '../../models/foundation/index.js';
import { type ImageDataset, openMnist } from '../../train/data/images.js';

describe('MnistClassifier', () => {
  test('layers, shapes and a checked-in weight file under 1 MB', async () => {
    const shapes = Object.fromEntries([...new MnistClassifier().stateDict()].map(([k, t]) => [k, t.shape]));
    expect(shapes).toEqual({
      'conv1.weight': [16, 1, 5, 5], 'conv1.bias': [16],
      'conv2.weight': [32, 16, 3, 3], 'conv2.bias': [32],
      'conv3.weight': [64, 32, 3, 3], 'conv3.bias': [64],
      'fc1.weight': [128, 1024], 'fc1.bias': [128],
      'fc2.weight': [10, 128], 'fc2.bias': [10],
    });
    expect((await stat(MNIST_CLASSIFIER_WEIGHTS)).size).toBeLessThan(1 << 20);
  });

  describe('with the checked-in weights', () => {
    let model: MnistClassifier;
    let digits: ImageDataset;
    beforeAll(async () => {
      [model, digits] = await Promise.all([loadMnistClassifier(), openMnist({ split: 'test', imageSize: 32, limit: 500 })]);
    });

    test('classifies the first 500 MNIST test digits (padded to 32×32) with at least 97% accuracy', () => {
      const { images, labels } = batchOf(digits, Array.from({ length: 500 }, (_, i) => i));
      const predicted = noGrad(() => argmax(model.forward(images), 1).toArraySync());
      expect(labels.filter((label, i) => predicted[i] === label).length / 500).toBeGreaterThanOrEqual(0.97);
    });

    test('28×28 digits are padded with black to 32×32, as the data loader does', () => {
      const { images } = batchOf(digits, [0, 1, 2]);
      const cropped = images.narrow(2, 2, 28).narrow(3, 2, 28);
      const direct = noGrad(() => model.forward(images).toArraySync());
      const padded = noGrad(() => model.forward(cropped).toArraySync());
      direct.forEach((v, i) => expect(padded[i]).toBe(v));
      expect(pad(cropped, [2, 2, 2, 2], -1).toArraySync()).toEqual(images.toArraySync());
    });

    test('as a feature extractor: 128 features and 10 logits; other shapes are refused', () => {
      const extractor = mnistClassifierExtractor(model);
      const { features, logits } = noGrad(() => extractor.extract(randn([3, 1, 32, 32])));
      expect(features.shape).toEqual([3, 128]);
      expect(logits!.shape).toEqual([3, 10]);
      expect([extractor.dim, extractor.classes]).toEqual([128, 10]);
      expect(() => extractor.extract(randn([1, 3, 32, 32]))).toThrow(/needs grey images \[N, 1, 32, 32\]/);
      expect(() => extractor.extract(randn([1, 1, 30, 30]))).toThrow(/needs grey images/);
    });
  });
});
