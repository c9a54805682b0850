import { describe, expect, test } from 'vitest';
import { type Tensor, fromArray, ones } from '../../engine/index.js';
import { Module, buffer, parameter, updateEma } from '../../nn/index.js';

const values = (t: Tensor) => Array.from(t.toArraySync());

class Tiny extends Module {
  readonly w: Tensor;
  readonly frozen: Tensor;
  readonly stat = buffer(ones([1], { dtype: 'float64' }));
  constructor(w: number[], frozen: number) {
    super();
    this.w = parameter(fromArray(w, [w.length], { dtype: 'float64' }));
    this.frozen = parameter(fromArray([frozen], [1], { dtype: 'float64' }), { requiresGrad: false });
  }
}

describe('updateEma', () => {
  test('ema ← decay·ema + (1 − decay)·θ for every parameter, frozen ones included, in place', () => {
    const ema = new Tiny([1, -2], 10);
    const model = new Tiny([3, 2], 20);
    model.stat.dispose();
    const w = ema.w;
    updateEma(ema, model, 0.9);
    // 0.9·1 + 0.1·3 = 1.2; 0.9·(−2) + 0.1·2 = −1.6; 0.9·10 + 0.1·20 = 11
    expect(values(ema.w)[0]).toBeCloseTo(1.2, 15);
    expect(values(ema.w)[1]).toBeCloseTo(-1.6, 15);
    expect(values(ema.frozen)[0]).toBeCloseTo(11, 14);
    expect(ema.w).toBe(w);
    // a second update compounds: 0.9·1.2 + 0.1·3 = 1.38
    updateEma(ema, model, 0.9);
    expect(values(ema.w)[0]).toBeCloseTo(1.38, 15);
    // buffers are not averaged
    expect(values(ema.stat)).toEqual([1]);
  });

  test('decay 0 copies the model (how the official code starts its EMA); the default decay is 0.9999', () => {
    const ema = new Tiny([1, -2], 10);
    const model = new Tiny([3, 2], 20);
    updateEma(ema, model, 0);
    expect(values(ema.w)).toEqual([3, 2]);
    const other = new Tiny([4, 2], 20);
    updateEma(ema, other);
    expect(values(ema.w)[0]).toBeCloseTo(0.9999 * 3 + 0.0001 * 4, 15);
  });

  test('models with different parameters are refused', () => {
    class Other extends Module {
      readonly v = parameter(ones([2]));
    }
    expect(() => updateEma(new Tiny([1, 2], 0), new Other() as unknown as Tiny)).toThrow(/only in the model: v; only in the EMA: w, frozen/);
    expect(() => updateEma(new Tiny([1, 2], 0), new Tiny([1, 2], 0), 1.5)).toThrow(/decay must lie in \[0, 1\]/);
  });
});
