import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { cholesky, matmul, symmetricEigen } from '../../eval/linalg.js';

/** A random symmetric matrix with entries in [−1, 1] from fast-check's integers (reproducible with the global seed). */
const symmetric = (maxN: number) =>
  fc.integer({ min: 1, max: maxN }).chain((n) =>
    fc.array(fc.integer({ min: -1000, max: 1000 }), { minLength: n * n, maxLength: n * n }).map((raw) => {
      const a = new Float64Array(n * n);
      for (let i = 0; i < n; i++) for (let j = 0; j <= i; j++) a[i * n + j] = a[j * n + i] = raw[i * n + j]! / 1000;
      return { a, n };
    }),
  );

function maxAbs(values: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < values.length; i++) m = Math.max(m, Math.abs(values[i]!));
  return m;
}

describe('symmetricEigen', () => {
  test('A = V·Λ·Vᵀ with orthonormal V and ascending Λ, on random symmetric matrices', () => {
    fc.assert(
      fc.property(symmetric(24), ({ a, n }) => {
        const { values, vectors } = symmetricEigen(a, n);
        const v = vectors!;
        const scale = Math.max(1, maxAbs(a));
        for (let k = 1; k < n; k++) expect(values[k]!).toBeGreaterThanOrEqual(values[k - 1]!);
        for (let i = 0; i < n; i++) {
          for (let j = 0; j < n; j++) {
            let rebuilt = 0;
            let gram = 0;
            for (let k = 0; k < n; k++) {
              rebuilt += v[k * n + i]! * values[k]! * v[k * n + j]!;
              gram += v[i * n + k]! * v[j * n + k]!;
            }
            expect(Math.abs(rebuilt - a[i * n + j]!)).toBeLessThan(1e-12 * n * scale);
            expect(Math.abs(gram - (i === j ? 1 : 0))).toBeLessThan(1e-12 * n);
          }
        }
      }),
    );
  });

  test('eigenvalues alone agree with the full decomposition, and their sum is the trace', () => {
    fc.assert(
      fc.property(symmetric(16), ({ a, n }) => {
        const full = symmetricEigen(a, n).values;
        const only = symmetricEigen(a, n, { vectors: false });
        expect(only.vectors).toBeUndefined();
        let trace = 0;
        for (let i = 0; i < n; i++) trace += a[i * n + i]!;
        for (let k = 0; k < n; k++) expect(only.values[k]).toBeCloseTo(full[k]!, 12);
        expect(full.reduce((s, x) => s + x, 0)).toBeCloseTo(trace, 11);
      }),
    );
  });

  test('known spectra: a 2×2 matrix, a diagonal one, repeated eigenvalues, zero', () => {
    // [[2, 1], [1, 2]] has eigenvalues 1 and 3 with eigenvectors (1, −1)/√2 and (1, 1)/√2.
    const { values, vectors } = symmetricEigen(Float64Array.of(2, 1, 1, 2), 2);
    expect([...values]).toEqual([expect.closeTo(1, 14), expect.closeTo(3, 14)]);
    const v = vectors!;
    expect(Math.abs((v[0]! - v[1]!) * Math.SQRT1_2)).toBeCloseTo(1, 14);
    expect(Math.abs((v[2]! + v[3]!) * Math.SQRT1_2)).toBeCloseTo(1, 14);

    expect([...symmetricEigen(Float64Array.of(5, 0, 0, 0, -2, 0, 0, 0, 7), 3).values]).toEqual([-2, 5, 7]);
    const identity = new Float64Array(25);
    for (let i = 0; i < 5; i++) identity[i * 6] = 4;
    expect([...symmetricEigen(identity, 5).values]).toEqual([4, 4, 4, 4, 4]);
    expect([...symmetricEigen(new Float64Array(9), 3).values]).toEqual([0, 0, 0]);
    expect([...symmetricEigen(Float64Array.of(-3), 1).values]).toEqual([-3]);
  });

  test('reads only the lower triangle and leaves its input alone', () => {
    const a = Float64Array.of(1, 99, 2, 3);
    const copy = Float64Array.from(a);
    const { values } = symmetricEigen(a, 2);
    expect(a).toEqual(copy);
    // [[1, 2], [2, 3]]: eigenvalues 2 ∓ √5.
    expect(values[0]).toBeCloseTo(2 - Math.sqrt(5), 14);
    expect(values[1]).toBeCloseTo(2 + Math.sqrt(5), 14);
  });

  test('rejects a wrong size and non-finite entries', () => {
    expect(() => symmetricEigen(new Float64Array(5), 2)).toThrow(/2×2 = 4 numbers, got 5/);
    expect(() => symmetricEigen(Float64Array.of(1, 0, NaN, 1), 2)).toThrow(/NaN at row 1, column 0/);
  });
});

describe('matmul and cholesky', () => {
  test('matmul agrees with the definition on odd sizes', () => {
    const [m, k, n] = [7, 5, 3];
    const a = Float64Array.from({ length: m * k }, (_, i) => ((i * 37) % 11) - 5);
    const b = Float64Array.from({ length: k * n }, (_, i) => ((i * 13) % 7) - 3);
    const c = matmul(a, b, m, k, n);
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let p = 0; p < k; p++) s += a[i * k + p]! * b[p * n + j]!;
        expect(c[i * n + j]).toBe(s);
      }
    }
    expect(() => matmul(a, b, m, k, n + 1)).toThrow(/do not fit/);
  });

  test('cholesky: L·Lᵀ = A with L lower triangular; refuses indefinite matrices', () => {
    const a = Float64Array.of(4, 2, 2, 2, 5, 1, 2, 1, 6);
    const l = cholesky(a, 3);
    for (let i = 0; i < 3; i++) {
      for (let j = 0; j < 3; j++) {
        if (j > i) expect(l[i * 3 + j]).toBe(0);
        let s = 0;
        for (let k = 0; k < 3; k++) s += l[i * 3 + k]! * l[j * 3 + k]!;
        expect(s).toBeCloseTo(a[i * 3 + j]!, 13);
      }
    }
    expect(() => cholesky(Float64Array.of(1, 2, 2, 1), 2)).toThrow(/not positive definite/);
  });
});
