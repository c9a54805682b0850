import { describe, expect, test } from 'vitest';
import { type Tensor, fromArray, scope } from '../../engine/index.js';
import { clipGradNorm, parameter } from '../../nn/index.js';

const values = (t: Tensor) => Array.from(t.toArraySync());

/** Two parameters with gradients [3, 4] and [12]: global 2-norm 13, 1-norm 19, ∞-norm 12. */
function setup() {
  const a = parameter(fromArray([0, 0], [2], { dtype: 'float64' }));
  const b = parameter(fromArray([0], [1], { dtype: 'float64' }));
  const c = parameter(fromArray([0], [1], { dtype: 'float64' }));
  a.grad = fromArray([3, 4], [2], { dtype: 'float64' });
  b.grad = fromArray([12], [1], { dtype: 'float64' });
  return [a, b, c] as const;
}

describe('clipGradNorm', () => {
  test('scales every gradient by maxNorm / (total + 1e-6) when the global norm is larger, returns the norm', () => {
    const [a, b, c] = setup();
    const total = clipGradNorm([a, b, c], 6.5);
    expect(total.itemSync()).toBe(13);
    const coef = 6.5 / (13 + 1e-6);
    expect(values(a.grad!)).toEqual([3 * coef, 4 * coef]);
    expect(values(b.grad!)).toEqual([12 * coef]);
    expect(c.grad).toBeNull();
  });

  test('leaves gradients unchanged when the norm is within the bound (the factor is clamped to 1)', () => {
    const [a, b] = setup();
    expect(clipGradNorm([a, b], 100).itemSync()).toBe(13);
    expect([...values(a.grad!), ...values(b.grad!)]).toEqual([3, 4, 12]);
  });

  test('1-norm and ∞-norm', () => {
    const [a, b] = setup();
    expect(clipGradNorm([a, b], 1000, 1).itemSync()).toBeCloseTo(19, 12);
    const [c, d] = setup();
    expect(clipGradNorm([c, d], 6, Infinity).itemSync()).toBe(12);
    expect(values(d.grad!)[0]).toBeCloseTo(12 * (6 / (12 + 1e-6)), 12);
  });

  test('no gradients: norm 0; the new gradients outlive an enclosing scope', () => {
    expect(clipGradNorm([parameter(fromArray([1]))], 1).itemSync()).toBe(0);
    const [a, b] = setup();
    scope(() => {
      clipGradNorm([a, b], 1);
    });
    expect(a.grad!.disposed).toBe(false);
    expect(Math.hypot(...values(a.grad!), ...values(b.grad!))).toBeCloseTo(1, 6);
  });
});
