import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { classAccuracy } from '../../eval/class-accuracy.js';
import type { FeatureMatrix } from '../../eval/features.js';
import { inceptionScore } from '../../eval/inception-score.js';
import { manifoldRadii, precisionRecall } from '../../eval/precision-recall.js';

const matrix = (rows: readonly (readonly number[])[]): FeatureMatrix => ({ data: Float32Array.from(rows.flat()), count: rows.length, dim: rows[0]!.length });

describe('inceptionScore', () => {
  test('uniform predictions score 1; confident predictions spread evenly over K classes score K', () => {
    expect(inceptionScore(matrix(new Array(12).fill([0.25, 0.25, 0.25, 0.25])))).toBeCloseTo(1, 6);
    const oneHot = Array.from({ length: 12 }, (_, i) => [0, 1, 2, 3].map((k) => +(k === i % 4)));
    expect(inceptionScore(matrix(oneHot))).toBeCloseTo(4, 6);
    // All samples confidently the same class: no diversity, score 1.
    expect(inceptionScore(matrix(new Array(5).fill([0, 0, 1])))).toBeCloseTo(1, 6);
  });

  test('splits are scored separately and averaged (the last may be shorter)', () => {
    const rows = [[1, 0], [0, 1], [1, 0], [1, 0], [1, 0]];
    // Split 1 = rows 0–3: p(y) = (3/4, 1/4); split 2 = row 4 alone: score 1.
    const first = Math.exp((3 * Math.log(4 / 3) + Math.log(4)) / 4);
    expect(inceptionScore(matrix(rows), 4)).toBeCloseTo((first + 1) / 2, 6);
  });

  test('equals exp(mean KL(p(y|x) ‖ p(y))) on random predictions, and is at most the number of classes', () => {
    fc.assert(
      fc.property(fc.array(fc.array(fc.double({ min: 0.01, max: 1, noNaN: true }), { minLength: 3, maxLength: 3 }), { minLength: 2, maxLength: 10 }), (raw) => {
        const rows = raw.map((r) => r.map((v) => v / r.reduce((a, b) => a + b, 0)));
        const m = matrix(rows);
        const p = Array.from({ length: rows.length }, (_, i) => [0, 1, 2].map((k) => m.data[i * 3 + k]!));
        const marginal = [0, 1, 2].map((k) => p.reduce((s, r) => s + r[k]!, 0) / p.length);
        const kl = p.reduce((s, r) => s + r.reduce((t, v, k) => t + v * Math.log(v / marginal[k]!), 0), 0) / p.length;
        const score = inceptionScore(m);
        expect(score).toBeCloseTo(Math.exp(kl), 10);
        expect(score).toBeLessThanOrEqual(3 + 1e-9);
      }),
    );
  });
});

describe('precision and recall', () => {
  test('radii: the squared distance to the k-th nearest other point', () => {
    const points = matrix([[0], [1], [3], [6], [10]]);
    expect([...manifoldRadii(points, 1)]).toEqual([1, 1, 4, 9, 16]);
    expect([...manifoldRadii(points, 3)]).toEqual([36, 25, 9, 25, 81]);
    expect(() => manifoldRadii(points, 5)).toThrow(/no 5-th nearest neighbour/);
  });

  test('hand-computed 1-D example, boundary included', () => {
    // Real points 0, 1, 2, 3 with k = 1: every ball has radius 1, so the real manifold is [−1, 4].
    // Generated points 4 (on the boundary), 4.5, 10, 10.5 with k = 1: balls of radius 0.5 around each.
    const real = matrix([[0], [1], [2], [3]]);
    const generated = matrix([[4], [4.5], [10], [10.5]]);
    const { precision, recall } = precisionRecall(real, generated, 1);
    expect(precision).toBe(0.25); // only 4 lies in the real manifold
    expect(recall).toBe(0); // no real point lies within 0.5 of a generated one
    expect(precisionRecall(real, matrix([[3.5], [4], [10], [10.5]]), 1).recall).toBe(0.25); // 3 is within 0.5 of 3.5
  });

  test('identical sets give 1 and 1; far-apart sets give 0 and 0', () => {
    const a = matrix(Array.from({ length: 30 }, (_, i) => [Math.sin(i), Math.cos(3 * i), i / 30]));
    expect(precisionRecall(a, a)).toEqual({ precision: 1, recall: 1 });
    const far = matrix(Array.from({ length: 30 }, (_, i) => [Math.sin(i) + 100, Math.cos(3 * i), i / 30]));
    expect(precisionRecall(a, far)).toEqual({ precision: 0, recall: 0 });
  });

  test('a generator that reproduces only half the data: precision 1, recall about half', () => {
    const points = Array.from({ length: 600 }, (_, i) => [Math.sin(i * 2.1) * 5, Math.cos(i * 1.3) * 5]);
    const half = points.filter(([x]) => x! > 0);
    const { precision, recall } = precisionRecall(matrix(points), matrix(half));
    expect(precision).toBe(1); // every generated point is a real one
    const share = half.length / points.length;
    expect(recall).toBeGreaterThanOrEqual(share); // every real point with x > 0 is generated exactly
    expect(recall).toBeLessThan(share + 0.1); // plus a thin band across the boundary x = 0
  });

  test('rejects features of different dimensions', () => {
    expect(() => precisionRecall(matrix([[0, 1], [1, 1], [2, 2], [3, 3], [4, 4]]), matrix([[0], [1], [2], [3], [4]]))).toThrow(/features of dimension [12] and [12]/);
  });
});

describe('classAccuracy', () => {
  test('overall and per-class shares of argmax = label; ties go to the first class', () => {
    const probabilities = matrix([[0.9, 0.1, 0], [0.2, 0.7, 0.1], [0.5, 0.5, 0], [0.1, 0.1, 0.8], [0.3, 0.3, 0.4]]);
    const { accuracy, perClass } = classAccuracy(probabilities, [0, 1, 1, 0, 2]);
    expect(accuracy).toBe(3 / 5);
    expect(perClass[0]).toBe(0.5); // sample 0 right, sample 3 wrong
    expect(perClass[1]).toBe(0.5); // sample 1 right, sample 2 a tie that goes to class 0
    expect(perClass[2]).toBe(1);
    expect(Number.isNaN(classAccuracy(probabilities, [0, 0, 0, 0, 0]).perClass[1])).toBe(true);
  });

  test('rejects labels that are not classes or do not match the predictions', () => {
    expect(() => classAccuracy(matrix([[1, 0]]), [2])).toThrow(/label 2 of sample 0/);
    expect(() => classAccuracy(matrix([[1, 0]]), [0, 1])).toThrow(/2 labels for 1 predictions/);
  });
});
