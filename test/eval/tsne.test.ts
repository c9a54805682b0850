import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { conditionalProbabilities, jointProbabilities, klGradient, pcaInitialisation, tsne } from '../../eval/tsne.js';

/** Points of `clusters` tight Gaussian-like blobs in `dim` dimensions, centres 20 apart along different axes. */
function blobs(clusters: number, perCluster: number, dim: number): { data: Float64Array; labels: number[] } {
  const data = new Float64Array(clusters * perCluster * dim);
  const labels: number[] = [];
  for (let c = 0; c < clusters; c++) {
    for (let p = 0; p < perCluster; p++) {
      const i = c * perCluster + p;
      labels.push(c);
      for (let k = 0; k < dim; k++) data[i * dim + k] = (k === c ? 20 : 0) + Math.sin(17.3 * i + 5.1 * k) * 0.7;
    }
  }
  return { data, labels };
}

describe('t-SNE affinities', () => {
  test('each conditional distribution has entropy log(perplexity), and p(i|i) = 0', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: 0, max: 50, noNaN: true }), { minLength: 40, maxLength: 80 }), fc.integer({ min: 2, max: 30 }), (raw, perplexity) => {
        const distances = Float64Array.from(raw);
        distances[0] = 0;
        // Distinct enough distances that the target entropy is reachable.
        for (let j = 1; j < distances.length; j++) distances[j] = distances[j]! + j * 0.1;
        const p = new Float64Array(distances.length);
        conditionalProbabilities(distances, 0, perplexity, p);
        expect(p[0]).toBe(0);
        expect(p.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
        const entropy = -p.reduce((h, x) => h + (x > 0 ? x * Math.log(x) : 0), 0);
        expect(Math.abs(entropy - Math.log(perplexity))).toBeLessThanOrEqual(1e-5);
      }),
    );
  });

  test('equidistant points with perplexity N − 1: every joint probability is 1/(N(N − 1))', () => {
    const n = 6;
    const data = new Float64Array(n * n);
    for (let i = 0; i < n; i++) data[i * n + i] = 1; // the standard basis: all pairwise distances √2
    const joint = jointProbabilities(data, n, n, n - 1);
    expect(joint.length).toBe(15);
    joint.forEach((p) => expect(p).toBeCloseTo(1 / (n * (n - 1)), 10));
  });

  test('the joint probabilities are condensed, positive and sum to ½', () => {
    const { data } = blobs(2, 10, 3);
    const joint = jointProbabilities(data, 20, 3, 5);
    expect(joint.length).toBe(190);
    expect(joint.reduce((a, b) => a + b, 0)).toBeCloseTo(0.5, 12);
    expect(Math.min(...joint)).toBeGreaterThan(0);
  });
});

describe('t-SNE objective', () => {
  test('the gradient is that of KL(P‖Q) (central differences)', () => {
    const n = 7;
    const { data } = blobs(2, 4, 3);
    const joint = jointProbabilities(data.subarray(0, n * 3), n, 3, 3);
    const y = Float64Array.from({ length: 2 * n }, (_, k) => Math.cos(3.7 * k) * 2);
    const gradient = new Float64Array(2 * n);
    const scratch = new Float64Array(joint.length);
    const kl = (at: Float64Array) => klGradient(joint, at, n, new Float64Array(2 * n), scratch, true);
    klGradient(joint, y, n, gradient, scratch, false);
    const h = 1e-6;
    for (let k = 0; k < 2 * n; k++) {
      const plus = Float64Array.from(y);
      const minus = Float64Array.from(y);
      plus[k] = plus[k]! + h;
      minus[k] = minus[k]! - h;
      expect(gradient[k]).toBeCloseTo((kl(plus) - kl(minus)) / (2 * h), 6);
    }
    expect(kl(y)).toBeGreaterThan(0);
  });

  test('PCA initialisation: the leading axis first, scaled to a standard deviation of 10⁻⁴', () => {
    // Spread mostly along the third coordinate, then the first.
    const n = 50;
    const data = Float64Array.from({ length: n * 3 }, (_, k) => {
      const [i, c] = [Math.floor(k / 3), k % 3];
      return [Math.sin(i) * 3, Math.cos(7 * i) * 0.1, (i - 25) * 2][c]!;
    });
    const y = pcaInitialisation(data, n, 3);
    const first = Array.from({ length: n }, (_, i) => y[2 * i]!);
    const mean = first.reduce((a, b) => a + b, 0) / n;
    expect(Math.sqrt(first.reduce((s, v) => s + (v - mean) ** 2, 0) / n)).toBeCloseTo(1e-4, 12);
    // The first coordinate follows the third input coordinate (up to the sign convention: positive largest weight).
    const slope = (y[2 * 40]! - y[2 * 10]!) / (data[40 * 3 + 2]! - data[10 * 3 + 2]!);
    expect(slope).toBeGreaterThan(0);
  });
});

describe('tsne', () => {
  test('keeps well-separated clusters apart: every point’s 5 nearest embedded neighbours share its cluster', () => {
    const { data, labels } = blobs(3, 25, 6);
    const n = labels.length;
    const { embedding, iterations, klDivergence } = tsne(data, n, 6, { perplexity: 10, maxIter: 400 });
    expect(iterations).toBeGreaterThan(250);
    expect(klDivergence).toBeGreaterThan(0);
    for (let i = 0; i < n; i++) {
      const neighbours = Array.from({ length: n }, (_, j) => j)
        .filter((j) => j !== i)
        .sort((a, b) => (embedding[2 * a]! - embedding[2 * i]!) ** 2 + (embedding[2 * a + 1]! - embedding[2 * i + 1]!) ** 2 - ((embedding[2 * b]! - embedding[2 * i]!) ** 2 + (embedding[2 * b + 1]! - embedding[2 * i + 1]!) ** 2))
        .slice(0, 5);
      for (const j of neighbours) expect(labels[j]).toBe(labels[i]);
    }
  });

  test('is deterministic, and checks its arguments', () => {
    const { data } = blobs(2, 8, 3);
    const a = tsne(data, 16, 3, { perplexity: 4, maxIter: 260 });
    const b = tsne(data, 16, 3, { perplexity: 4, maxIter: 260 });
    expect(a.embedding).toEqual(b.embedding);
    expect(() => tsne(data, 16, 3)).toThrow(/perplexity \(30\) must be less than the number of points \(16\)/);
    expect(() => tsne(data, 15, 3)).toThrow(/not 15 points of dimension 3/);
    expect(() => tsne(data, 16, 3, { perplexity: 4, maxIter: 100 })).toThrow(/at least 250/);
  });
});
