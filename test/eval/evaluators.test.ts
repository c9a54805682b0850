import { describe, expect, test } from 'vitest';
import { type Tensor, cat, fromArray, mean, mul, reshape } from '../../engine/index.js';
import type { ExtractorOutput, FeatureExtractor } from '../../eval/features.js';
import { evaluateSamples } from '../../eval/generation.js';
import { batchOf } from '../../eval/classifier/batch.js';
import { loadMnistClassifier, mnistClassifierExtractor } from '../../eval/classifier/model.js';
import { dequantizeImages } from '../../eval/quantize.js';
import { evaluateReconstruction } from '../../eval/reconstruction.js';
import { openMnist } from '../../train/data/images.js';
import { ssim } from '../../eval/ssim.js';

/** A cheap extractor: per channel, the mean and the mean square over 4×4 blocks; its logits are the first 3 features. */
const blockStatistics: FeatureExtractor = {
  name: 'block-statistics',
  dim: 2 * 2 * 4,
  classes: 3,
  extract(images: Tensor): ExtractorOutput {
    const [n, c] = images.shape as [number, number];
    const blocks = (x: Tensor) => mean(reshape(x, [n, c, 2, 8, 2, 8]), [3, 5]).reshape([n, c * 4]);
    const features = cat([blocks(images), blocks(mul(images, images))], 1);
    return { features, logits: features.narrow(1, 0, 3).mul(10) };
  },
};

/** Images from bytes, as a dataset of 8-bit PNGs gives them. */
function bytesToImages(count: number, salt: number, shift = 0): Tensor {
  const bytes = Uint8Array.from({ length: count * 2 * 16 * 16 }, (_, i) => Math.min(254, Math.floor(127.5 + 120 * Math.sin(i * 0.37 + salt * (1 + (i % 7))))) + shift);
  return dequantizeImages(bytes, [count, 2, 16, 16]);
}

describe('evaluateReconstruction', () => {
  test('a perfect round trip: PSNR +∞, SSIM 1, rFID 0', async () => {
    const report = await evaluateReconstruction({ images: [bytesToImages(6, 1), bytesToImages(5, 2)], reconstruct: (x) => x.mul(1), extractor: blockStatistics });
    expect(report.count).toBe(11);
    expect(report.psnr).toBe(Infinity);
    expect(report.ssim).toBeCloseTo(1, 6);
    expect(Math.abs(report.rfid!)).toBeLessThan(1e-6);
    expect(report.lpips).toBeUndefined();
  });

  test('every byte off by one: PSNR 20·log10(255), SSIM of the raw output; decoder output must keep the shape', async () => {
    const original = [bytesToImages(4, 3)];
    const report = await evaluateReconstruction({ images: original, reconstruct: () => bytesToImages(4, 3, 1) });
    expect(report.psnr).toBeCloseTo(20 * Math.log10(255), 5);
    expect(report.ssim).toBeCloseTo(ssim(bytesToImages(4, 3, 1), original[0]!).mean().itemSync(), 6);
    expect(report.ssim).toBeLessThan(1);
    await expect(evaluateReconstruction({ images: original, reconstruct: (x) => x.narrow(0, 0, 2) })).rejects.toThrow(/reconstructions of shape \[2,2,16,16\] for images \[4,2,16,16\]/);
  });
});

describe('evaluateSamples', () => {
  test('samples equal to the reference: FD 0, precision and recall 1, IS and class accuracy from the logits', async () => {
    const images = bytesToImages(40, 5);
    const probe = blockStatistics.extract(images).logits!.toArraySync();
    const labels = Array.from({ length: 40 }, (_, i) => [0, 1, 2].reduce((best, k) => (probe[i * 3 + k]! > probe[i * 3 + best]! ? k : best), 0));
    const report = await evaluateSamples({
      samples: [{ images: images.narrow(0, 0, 25), labels: labels.slice(0, 25) }, { images: images.narrow(0, 25, 15), labels: labels.slice(25) }],
      reference: [images],
      extractor: blockStatistics,
    });
    expect(report.count).toBe(40);
    expect(report.referenceCount).toBe(40);
    expect(Math.abs(report.fid)).toBeLessThan(1e-6);
    expect(report.precision).toBe(1);
    expect(report.recall).toBe(1);
    expect(report.inceptionScore).toBeGreaterThanOrEqual(1);
    expect(report.classAccuracy!.accuracy).toBe(1);
  });

  test('MNIST through the checked-in classifier: two halves of the test set are close; labels are recognised', async () => {
    const [model, digits] = await Promise.all([loadMnistClassifier(), openMnist({ split: 'test', limit: 600 })]);
    const extractor = mnistClassifierExtractor(model);
    const first = batchOf(digits, Array.from({ length: 300 }, (_, i) => i));
    const second = batchOf(digits, Array.from({ length: 300 }, (_, i) => 300 + i));
    const reference = [first.images];
    const same = await evaluateSamples({ samples: [{ images: second.images, labels: second.labels }], reference, extractor });
    // Noise images: far from the digits' feature distribution.
    const noise = await evaluateSamples({ samples: [{ images: fromArray(Float32Array.from({ length: 300 * 1024 }, (_, i) => Math.sin(i * 12.9898)), [300, 1, 32, 32]) }], reference, extractor });
    expect(same.classAccuracy!.accuracy).toBeGreaterThan(0.95);
    expect(same.fid).toBeLessThan(noise.fid / 10);
    expect(same.precision).toBeGreaterThan(0.6);
    expect(same.recall).toBeGreaterThan(0.6);
    expect(noise.classAccuracy).toBeUndefined();
    expect(same.inceptionScore).toBeGreaterThan(8);
  });
});
