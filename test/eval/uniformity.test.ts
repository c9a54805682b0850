import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { Generator } from '../../engine/index.js';
import { gaussianKde } from '../../eval/kde.js';
import { tsne } from '../../eval/tsne.js';
import { type LatentSource, densityUniformity, latentUniformity, sampleLatentVectors } from '../../eval/uniformity.js';

describe('gaussianKde', () => {
  test('1-D: Scott’s factor N^(−1/5) times the unbiased standard deviation is the kernel width', () => {
    const points = [0, 1, 3, 7, 8];
    const n = points.length;
    const mean = points.reduce((a, b) => a + b, 0) / n;
    const variance = points.reduce((s, x) => s + (x - mean) ** 2, 0) / (n - 1);
    const width2 = variance * n ** (-2 / 5);
    const kde = gaussianKde(points, n, 1);
    expect(kde.factor).toBeCloseTo(n ** (-1 / 5), 15);
    for (const x of [-2, 0.5, 4, 9.25]) {
      const direct = points.reduce((s, p) => s + Math.exp(-((x - p) ** 2) / (2 * width2)) / Math.sqrt(2 * Math.PI * width2), 0) / n;
      expect(kde.evaluate([x], 1)[0]).toBeCloseTo(direct, 14);
    }
  });

  test('2-D: the direct sum of Gaussians with covariance h²·Σ̂ (closed-form 2×2 inverse and determinant)', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.double({ min: -5, max: 5, noNaN: true }), fc.double({ min: -5, max: 5, noNaN: true })), { minLength: 4, maxLength: 20 }), fc.constantFrom<'scott' | 'silverman' | number>('scott', 'silverman', 0.3), (pairs, bandwidth) => {
        const n = pairs.length;
        const points = pairs.flat();
        const mx = pairs.reduce((s, p) => s + p[0], 0) / n;
        const my = pairs.reduce((s, p) => s + p[1], 0) / n;
        let [sxx, sxy, syy] = [0, 0, 0];
        for (const [x, y] of pairs) {
          sxx += (x - mx) ** 2 / (n - 1);
          sxy += ((x - mx) * (y - my)) / (n - 1);
          syy += (y - my) ** 2 / (n - 1);
        }
        const h = bandwidth === 'scott' ? n ** (-1 / 6) : bandwidth === 'silverman' ? n ** (-1 / 6) : bandwidth; // d = 2: (N·4/4)^(−1/6)
        const [a, b, c] = [sxx * h * h, sxy * h * h, syy * h * h];
        const det = a * c - b * b;
        fc.pre(det > 1e-6 * (a * c));
        const kde = gaussianKde(points, n, 2, bandwidth);
        const density = kde.evaluate(points, n);
        pairs.forEach(([x, y], j) => {
          const direct =
            pairs.reduce((s, [px, py]) => {
              const [dx, dy] = [x - px, y - py];
              return s + Math.exp(-(c * dx * dx - 2 * b * dx * dy + a * dy * dy) / (2 * det));
            }, 0) / (n * 2 * Math.PI * Math.sqrt(det));
          expect(density[j]! / direct).toBeCloseTo(1, 9);
        });
      }),
    );
  });

  test('needs two points and a matching evaluation size', () => {
    expect(() => gaussianKde([1], 1, 1)).toThrow(/at least 2 points/);
    expect(() => gaussianKde([0, 0, 1, 2, 3, 1], 3, 2).evaluate([1, 2, 3], 2)).toThrow(/not 2 points of dimension 2/);
    expect(() => gaussianKde([0, 0, 1, 1, 2, 2], 3, 2)).toThrow(/covariance is singular/);
  });
});

describe('densityUniformity', () => {
  test('equal densities: CV 0, Gini 0, normalised entropy 1', () => {
    const m = densityUniformity(new Array(64).fill(0.25));
    expect(m.densityStd).toBe(0);
    expect(m.densityCv).toBe(0);
    expect(m.giniCoefficient).toBeCloseTo(0, 15);
    expect(m.normalizedEntropy).toBeCloseTo(1, 8); // the 10⁻¹⁰ inside the log moves it by ~10⁻⁹
  });

  test('all density on one point: Gini 1 − 1/n, entropy 0', () => {
    for (const n of [2, 5, 100]) {
      const d = new Array(n).fill(0);
      d[Math.floor(n / 2)] = 3;
      const m = densityUniformity(d);
      expect(m.giniCoefficient).toBeCloseTo(1 - 1 / n, 14);
      expect(m.normalizedEntropy).toBeCloseTo(0, 9);
      expect(m.densityCv).toBeCloseTo(Math.sqrt(n - 1), 12);
    }
  });

  test('hand-computed: densities 1, 2, 3, 4 in any order', () => {
    const m = densityUniformity([3, 1, 4, 2]);
    expect(m.densityStd).toBeCloseTo(Math.sqrt(1.25), 14);
    expect(m.densityCv).toBeCloseTo(Math.sqrt(1.25) / 2.5, 14);
    expect(m.giniCoefficient).toBeCloseTo((-3 * 1 - 1 * 2 + 1 * 3 + 3 * 4) / (4 * 10), 14);
    const p = [0.1, 0.2, 0.3, 0.4];
    expect(m.normalizedEntropy).toBeCloseTo(-p.reduce((h, x) => h + x * Math.log2(x + 1e-10), 0) / 2, 12);
  });
});

/** Latents whose value tells where it was read: 1000·index + 100·flipped + 10·channel + position. */
function labelledSource(count: number, { mean = [0, 5, 10], std = [1, 2, 4], flip = true } = {}): LatentSource & { reads: boolean[] } {
  const [channels, height, width] = [3, 2, 4];
  const reads: boolean[] = [];
  return {
    count,
    latentShape: [channels, height, width],
    flip,
    mean: Float64Array.from(mean),
    std: Float64Array.from(std),
    reads,
    read(index, flipped) {
      reads.push(flipped);
      const latent = Float32Array.from({ length: channels * height * width }, (_, k) => {
        const [c, position] = [Math.floor(k / (height * width)), k % (height * width)];
        return 1000 * index + 100 * +flipped + 10 * c + position;
      });
      return { latent, label: 0 };
    },
  };
}

describe('sampleLatentVectors', () => {
  test('distinct images, one position per vector across channels, flipped about half the time, standardised', () => {
    const source = labelledSource(400);
    const vectors = sampleLatentVectors(source, 300, new Generator(1));
    const images = new Set<number>();
    for (let k = 0; k < 300; k++) {
      const raw = [vectors[3 * k]!, vectors[3 * k + 1]! * 2 + 5, vectors[3 * k + 2]! * 4 + 10];
      images.add(Math.floor(raw[0]! / 1000));
      expect(raw[0]! % 10).toBeLessThan(8); // a position of the 2×4 map
      raw.forEach((v, c) => expect(v).toBeCloseTo(raw[0]! + 10 * c, 3)); // same image, flip and position
    }
    expect(images.size).toBe(300);
    const flipped = source.reads.filter(Boolean).length;
    expect(flipped).toBeGreaterThan(120);
    expect(flipped).toBeLessThan(180);
  });

  test('checks the count, the flipped latents and the statistics', () => {
    expect(() => sampleLatentVectors(labelledSource(5), 6)).toThrow(/6 distinct images asked of 5/);
    expect(() => sampleLatentVectors(labelledSource(5, { flip: false }), 2)).toThrow(/no flipped latents/);
    expect(() => sampleLatentVectors(labelledSource(5, { mean: [0] }), 2)).toThrow(/statistics for 1 channels/);
  });
});

describe('latentUniformity', () => {
  test('t-SNE, then the KDE at the embedded points, then their statistics, and a plot', () => {
    const n = 60;
    const vectors = Float64Array.from({ length: n * 4 }, (_, k) => Math.sin(k * 1.7) + (k % 4 === 0 ? Math.floor(k / 80) * 5 : 0));
    const options = { perplexity: 10, maxIter: 260 };
    const result = latentUniformity(vectors, n, 4, options);
    expect(result.embedding).toEqual(tsne(vectors, n, 4, options).embedding);
    expect(result.density).toEqual(gaussianKde(result.embedding, n, 2).evaluate(result.embedding, n));
    expect(result.metrics).toEqual(densityUniformity(result.density));
    expect([result.plot.width, result.plot.height, result.plot.channels]).toEqual([600, 500, 3]);
  });
});
