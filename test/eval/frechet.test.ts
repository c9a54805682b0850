import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { type GaussianStatistics, frechetDistance, gaussianStatistics, traceSqrtProduct } from '../../eval/frechet.js';

/** An orthogonal n×n matrix: a product of three Householder reflections I − 2vvᵀ/vᵀv. */
function orthogonal(n: number, seed: number): Float64Array {
  let q = new Float64Array(n * n);
  for (let i = 0; i < n; i++) q[i * n + i] = 1;
  for (let r = 0; r < 3; r++) {
    const v = Float64Array.from({ length: n }, (_, i) => Math.sin(seed * 12.9898 + (r + 1) * 78.233 * (i + 1)));
    const vv = v.reduce((s, x) => s + x * x, 0);
    const next = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) next[i * n + j] = q[i * n + j]! - (2 * v[i]! * v.reduce((s, x, k) => s + x * q[k * n + j]!, 0)) / vv;
    q = next;
  }
  return q;
}

/** Q·B·Qᵀ */
function rotate(b: Float64Array, q: Float64Array, n: number): Float64Array {
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let k = 0; k < n; k++) for (let l = 0; l < n; l++) s += q[i * n + k]! * b[k * n + l]! * q[j * n + l]!;
      out[i * n + j] = s;
    }
  }
  return out;
}

function diagonal(values: readonly number[]): Float64Array {
  const n = values.length;
  const out = new Float64Array(n * n);
  values.forEach((v, i) => (out[i * n + i] = v));
  return out;
}

/*
 * Near a zero eigenvalue the square root amplifies rounding: an eigenvalue off by ε·‖Σ‖ moves its root by
 * √(ε·‖Σ‖) ≈ 10⁻⁸. Cases that may be singular are checked to 6 digits, well-conditioned ones to 10.
 */
const SINGULAR_DIGITS = 6;

const stats = (mean: readonly number[], covariance: Float64Array): GaussianStatistics => ({ dim: mean.length, count: 100, mean: Float64Array.from(mean), covariance });

/** tr √(AB) for symmetric positive semi-definite 2×2 A, B: √(tr AB + 2√(det A·det B)), from the eigenvalues of AB. */
function traceSqrt2x2(a: readonly number[], b: readonly number[]): number {
  const trAB = a[0]! * b[0]! + a[1]! * b[2]! + a[2]! * b[1]! + a[3]! * b[3]!;
  const det = (m: readonly number[]) => m[0]! * m[3]! - m[1]! * m[2]!;
  return Math.sqrt(trAB + 2 * Math.sqrt(det(a) * det(b)));
}

/** A random symmetric positive semi-definite 2×2 matrix [[p, r], [r, q]] with r² ≤ p·q. */
const psd2x2 = fc.tuple(fc.double({ min: 0.01, max: 4, noNaN: true }), fc.double({ min: 0.01, max: 4, noNaN: true }), fc.double({ min: -1, max: 1, noNaN: true })).map(([p, q, t]) => {
  const r = t * Math.sqrt(p * q);
  return [p, r, r, q];
});

describe('frechetDistance', () => {
  test('diagonal covariances: ‖μ₁ − μ₂‖² + Σ (√aᵢ − √bᵢ)²', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.double({ min: 0, max: 9, noNaN: true }), fc.double({ min: 0, max: 9, noNaN: true }), fc.double({ min: -3, max: 3, noNaN: true })), { minLength: 1, maxLength: 12 }), (rows) => {
        const a = rows.map((r) => r[0]);
        const b = rows.map((r) => r[1]);
        const shift = rows.map((r) => r[2]);
        const expected = rows.reduce((s, [x, y, m]) => s + m * m + (Math.sqrt(x) - Math.sqrt(y)) ** 2, 0);
        const d = frechetDistance(stats(shift, diagonal(a)), stats(rows.map(() => 0), diagonal(b)));
        expect(d).toBeCloseTo(expected, 9);
      }),
    );
  });

  test('commuting covariances (one eigenbasis, rotated): Σ (√aᵢ − √bᵢ)²', () => {
    const n = 9;
    const q = orthogonal(n, 3);
    const zero = new Array(n).fill(0);
    const check = (a: number[], b: number[], digits: number) => {
      const expected = a.reduce((s, x, i) => s + (Math.sqrt(x) - Math.sqrt(b[i]!)) ** 2, 0);
      expect(frechetDistance(stats(zero, rotate(diagonal(a), q, n)), stats(zero, rotate(diagonal(b), q, n)))).toBeCloseTo(expected, digits);
    };
    check([0.5, 1, 2, 3, 0.2, 4, 0.25, 6, 1.5], [2, 1, 0.5, 0.1, 3, 4, 0.3, 1, 9], 10);
    check([0.5, 1, 2, 3, 0, 4, 0.25, 6, 1.5], [2, 1, 0.5, 0.1, 3, 4, 0, 1, 9], SINGULAR_DIGITS);
  });

  test('non-commuting 2×2 covariances against the closed form of tr √(Σ₁Σ₂)', () => {
    fc.assert(
      fc.property(psd2x2, psd2x2, (a, b) => {
        const expected = a[0]! + a[3]! + b[0]! + b[3]! - 2 * traceSqrt2x2(a, b);
        expect(frechetDistance(stats([0, 0], Float64Array.from(a)), stats([0, 0], Float64Array.from(b)))).toBeCloseTo(expected, SINGULAR_DIGITS);
      }),
    );
  });

  test('non-commuting blocks mixed by a rotation: the trace is the sum of the blocks’ closed forms', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(psd2x2, psd2x2), { minLength: 2, maxLength: 6 }), fc.integer({ min: 1, max: 1000 }), (blocks, seed) => {
        const n = 2 * blocks.length;
        const [a, b] = [new Float64Array(n * n), new Float64Array(n * n)];
        blocks.forEach(([x, y], k) => {
          for (let i = 0; i < 2; i++) {
            for (let j = 0; j < 2; j++) {
              a[(2 * k + i) * n + 2 * k + j] = x[2 * i + j]!;
              b[(2 * k + i) * n + 2 * k + j] = y[2 * i + j]!;
            }
          }
        });
        const q = orthogonal(n, seed);
        const expected = blocks.reduce((s, [x, y]) => s + traceSqrt2x2(x, y), 0);
        expect(traceSqrtProduct(rotate(a, q, n), rotate(b, q, n), n)).toBeCloseTo(expected, SINGULAR_DIGITS);
      }),
    );
  });

  test('well-conditioned non-commuting covariances, to 10 digits', () => {
    const a = [2, 0.7, 0.7, 1];
    const b = [0.5, -0.3, -0.3, 3];
    expect(traceSqrtProduct(Float64Array.from(a), Float64Array.from(b), 2)).toBeCloseTo(traceSqrt2x2(a, b), 12);
    expect(traceSqrtProduct(Float64Array.from(b), Float64Array.from(a), 2)).toBeCloseTo(traceSqrt2x2(a, b), 12);
  });

  test('a singular covariance (rank 1) and identical Gaussians', () => {
    // Σ₁ = diag(1, 0): tr √(Σ₁Σ₂) = √(Σ₂[0][0]).
    expect(traceSqrtProduct(diagonal([1, 0]), Float64Array.of(4, 1, 1, 3), 2)).toBeCloseTo(2, 12);
    const c = rotate(diagonal([3, 1, 0.5, 0]), orthogonal(4, 7), 4);
    expect(Math.abs(frechetDistance(stats([1, 2, 3, 4], c), stats([1, 2, 3, 4], c)))).toBeLessThan(1e-12);
  });

  test('rejects statistics of different dimensions', () => {
    expect(() => frechetDistance(stats([0], diagonal([1])), stats([0, 0], diagonal([1, 1])))).toThrow(/dimension 1 and 2/);
  });
});

describe('gaussianStatistics', () => {
  test('mean and unbiased covariance (divisor N − 1), across the accumulation chunks', () => {
    const count = 300;
    const dim = 3;
    const data = Float32Array.from({ length: count * dim }, (_, i) => ((i * 7919) % 101) / 10 - 5 + (i % dim));
    const { mean, covariance } = gaussianStatistics({ data, count, dim });
    for (let a = 0; a < dim; a++) {
      let m = 0;
      for (let s = 0; s < count; s++) m += data[s * dim + a]!;
      expect(mean[a]).toBeCloseTo(m / count, 10);
    }
    for (let a = 0; a < dim; a++) {
      for (let b = 0; b < dim; b++) {
        let c = 0;
        for (let s = 0; s < count; s++) c += (data[s * dim + a]! - mean[a]!) * (data[s * dim + b]! - mean[b]!);
        expect(covariance[a * dim + b]).toBeCloseTo(c / (count - 1), 10);
      }
    }
    expect(() => gaussianStatistics({ data: new Float32Array(3), count: 1, dim: 3 })).toThrow(/at least 2 samples/);
  });
});
