import { describe, expect, test } from 'vitest';
import { type Tensor, fromArray, manualSeed, zeros } from '../../engine/index.js';
import { Conv2d, Embedding, Linear, init, parameter } from '../../nn/index.js';

/*
 * Statistical checks use enough samples that a correct sampler passes with overwhelming probability (bounds of
 * 6 standard errors), and a fixed seed makes every run identical anyway.
 */

const values = (t: Tensor) => Array.from(t.toArraySync());
const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
const variance = (v: number[]) => {
  const m = mean(v);
  return v.reduce((a, b) => a + (b - m) ** 2, 0) / v.length;
};

/** Values in [−bound, bound], spread over the whole range, with the variance of U(−b, b) (b²/3). */
function expectUniform(v: number[], bound: number): void {
  expect(Math.max(...v.map(Math.abs))).toBeLessThanOrEqual(bound);
  expect(Math.max(...v)).toBeGreaterThan(bound * 0.95);
  expect(Math.min(...v)).toBeLessThan(-bound * 0.95);
  const n = v.length;
  expect(Math.abs(mean(v))).toBeLessThan((6 * bound) / Math.sqrt(3 * n));
  // Var of the sample variance of U(−b, b) is (b⁴/5 − b⁴/9)/n.
  expect(Math.abs(variance(v) - bound ** 2 / 3)).toBeLessThan(6 * Math.sqrt((bound ** 4 * (1 / 5 - 1 / 9)) / n));
}

describe('init', () => {
  test('uniform_ covers [a, b) with the right moments', () => {
    manualSeed(11);
    const t = init.uniform_(parameter(zeros([20000])), 2, 4);
    const v = values(t);
    expect(Math.min(...v)).toBeGreaterThanOrEqual(2);
    expect(Math.max(...v)).toBeLessThan(4);
    expectUniform(v.map((x) => x - 3), 1);
  });

  test('normal_ has the requested mean and standard deviation', () => {
    manualSeed(12);
    const n = 20000;
    const v = values(init.normal_(parameter(zeros([n])), 1.5, 0.02));
    expect(Math.abs(mean(v) - 1.5)).toBeLessThan((6 * 0.02) / Math.sqrt(n));
    expect(Math.abs(Math.sqrt(variance(v)) - 0.02)).toBeLessThan((6 * 0.02) / Math.sqrt(2 * n));
  });

  test('draws are reproducible from the seed, and differ between seeds', () => {
    const draw = (seed: number) => {
      manualSeed(seed);
      return values(init.normal_(parameter(zeros([8]))));
    };
    expect(draw(5)).toEqual(draw(5));
    expect(draw(5)).not.toEqual(draw(6));
  });

  test('constant_, zeros_ and ones_ write in place', () => {
    const p = parameter(fromArray([1, 2, 3]));
    expect(init.constant_(p, 0.5)).toBe(p);
    expect(values(p)).toEqual([0.5, 0.5, 0.5]);
    expect(values(init.zeros_(p))).toEqual([0, 0, 0]);
    expect(values(init.ones_(p))).toEqual([1, 1, 1]);
  });

  test('fans and gains follow torch.nn.init', () => {
    expect(init.fanInAndFanOut(zeros([8, 4, 3, 3]))).toEqual({ fanIn: 36, fanOut: 72 });
    expect(() => init.fanInAndFanOut(zeros([5]))).toThrow(/rank ≥ 2/);
    expect(init.calculateGain('relu')).toBe(Math.SQRT2);
    expect(init.calculateGain('tanh')).toBe(5 / 3);
    expect(init.calculateGain('leaky_relu', Math.sqrt(5))).toBeCloseTo(Math.sqrt(1 / 3), 15);
    expect(init.calculateGain('linear')).toBe(1);
  });

  test('xavier_uniform_: bound √(6 / (fan_in + fan_out))', () => {
    manualSeed(13);
    expectUniform(values(init.xavierUniform_(parameter(zeros([120, 80])))), Math.sqrt(6 / 200));
    // LightningDiT's patch embedding views the conv weight as 2-D first (fan_out = D, not D·p·p); a view of the
    // detached weight shares its storage, like `weight.data.view(...)`.
    const w = parameter(zeros([40, 8, 2, 2]));
    init.xavierUniform_(w.detach().reshape([40, 32]));
    expectUniform(values(w), Math.sqrt(6 / 72));
  });

  test('kaiming_uniform_ with PyTorch defaults: √3·√2/√fan_in', () => {
    manualSeed(14);
    expectUniform(values(init.kaimingUniform_(parameter(zeros([100, 150])))), Math.sqrt(3) * Math.SQRT2 / Math.sqrt(150));
    expectUniform(values(init.kaimingUniform_(parameter(zeros([100, 150])), { mode: 'fan_out', nonlinearity: 'relu' })), Math.sqrt(6 / 100));
  });

  test('Linear and Conv2d default init: weight and bias U(−1/√fan_in, 1/√fan_in)', () => {
    manualSeed(15);
    const lin = new Linear(50, 400);
    expectUniform(values(lin.weight), 1 / Math.sqrt(50));
    expectUniform(values(lin.bias!), 1 / Math.sqrt(50));
    const conv = new Conv2d(4, 600, 3);
    expectUniform(values(conv.weight), 1 / 6);
    expectUniform(values(conv.bias!), 1 / 6);
  });

  test('Embedding starts N(0, 1)', () => {
    manualSeed(16);
    const v = values(new Embedding(100, 100).weight);
    expect(Math.abs(mean(v))).toBeLessThan(6 / 100);
    expect(Math.abs(variance(v) - 1)).toBeLessThan(6 * Math.sqrt(2 / 10000));
  });
});
