import { describe, expect, test } from 'vitest';
import * as E from '../../engine/index.js';
import type { Tensor } from '../../engine/index.js';
import { philox } from '../../engine/random.js';
import { nonDifferentiable } from '../helpers/props.js';

const values = (t: Tensor) => Array.from(t.toArraySync());
const leaf = () => E.fromArray([1, 2, 3], [3], { dtype: 'float64', requiresGrad: true });

describe('ops without a gradient', () => {
  nonDifferentiable('full', () => E.fullLike(leaf(), 2));
  nonDifferentiable('random', () => E.randnLike(leaf()));
});

describe('filled tensors', () => {
  test('full, zeros, ones: float32 by default, or the dtype asked for', () => {
    const t = E.full([2, 3], 1.5);
    expect(t.shape).toEqual([2, 3]);
    expect(t.dtype).toBe('float32');
    expect(values(t)).toEqual([1.5, 1.5, 1.5, 1.5, 1.5, 1.5]);
    expect(values(E.zeros([2], { dtype: 'int32' }))).toEqual([0, 0]);
    expect(E.ones([], { dtype: 'float64' }).itemSync()).toBe(1);
    expect(E.zeros([0, 4]).size).toBe(0);
    expect(values(E.full([1], 0.1))).toEqual([Math.fround(0.1)]);
  });

  test('the *Like forms copy shape, dtype and backend, and take overrides', () => {
    const x = E.fromArray([1, 2, 3, 4], [2, 2], { dtype: 'float64' });
    expect(E.zerosLike(x).dtype).toBe('float64');
    expect(E.onesLike(x).shape).toEqual([2, 2]);
    expect(values(E.fullLike(x, 7, { dtype: 'int32' }))).toEqual([7, 7, 7, 7]);
    expect(E.fullLike(x, 7, { dtype: 'int32' }).dtype).toBe('int32');
  });

  test('requiresGrad makes a trainable leaf', () => {
    const w = E.zeros([2], { requiresGrad: true });
    expect(w.requiresGrad).toBe(true);
    expect(w.isLeaf).toBe(true);
  });
});

describe('ranges', () => {
  test('arange follows torch.arange: ⌈(end − start)/step⌉ values', () => {
    expect(values(E.arange(5))).toEqual([0, 1, 2, 3, 4]);
    expect(values(E.arange(1, 2.5, 0.5))).toEqual([1, 1.5, 2]);
    expect(values(E.arange(0, -3, -1))).toEqual([0, -1, -2]);
    expect(values(E.arange(2, 2))).toEqual([]);
    expect(E.arange(3).dtype).toBe('float32');
    expect(E.arange(3, undefined, 1, { dtype: 'int32' }).dtype).toBe('int32');
  });

  test('linspace hits both ends exactly and is symmetric (PyTorch computes the second half from the end)', () => {
    expect(values(E.linspace(3, 10, 5, { dtype: 'float64' }))).toEqual([3, 4.75, 6.5, 8.25, 10]);
    expect(values(E.linspace(-10, 10, 5, { dtype: 'float64' }))).toEqual([-10, -5, 0, 5, 10]);
    expect(values(E.linspace(0, 1, 1))).toEqual([0]);
    expect(values(E.linspace(0, 1, 0))).toEqual([]);
    const t = values(E.linspace(-1, 1, 7, { dtype: 'float64' }));
    expect(t.map((v, i) => v + t[6 - i]!)).toEqual([0, 0, 0, 0, 0, 0, 0]);
    const third = values(E.linspace(0, 0.3, 4, { dtype: 'float64' }));
    expect(third[3]).toBe(0.3);
  });

  test('eye, square or not', () => {
    expect(values(E.eye(2))).toEqual([1, 0, 0, 1]);
    expect(values(E.eye(2, 3))).toEqual([1, 0, 0, 0, 1, 0]);
    expect(E.eye(0).shape).toEqual([0, 0]);
  });
});

describe('random numbers', () => {
  test('Philox-4x32-10 matches the Random123 known-answer vectors', () => {
    const out = new Uint32Array(4);
    const hex = () => Array.from(out, (w) => w.toString(16).padStart(8, '0'));
    philox(0, 0, 0, 0, 0, 0, out);
    expect(hex()).toEqual(['6627e8d5', 'e169c58d', 'bc57ac4c', '9b00dbd8']);
    philox(0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, out);
    expect(hex()).toEqual(['408f276d', '41c83b0e', 'a20bc7c6', '6d5451fd']);
    philox(0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0, out);
    expect(hex()).toEqual(['d16cfe09', '94fdcceb', '5001e420', '24126ea1']);
  });

  test('the same seed gives the same numbers; another seed, other numbers', () => {
    E.manualSeed(1234);
    const a = values(E.randn([16]));
    E.manualSeed(1234);
    const b = values(E.randn([16]));
    E.manualSeed(1235);
    const c = values(E.randn([16]));
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
  });

  test('consecutive draws continue one stream: rand([3]) then rand([2]) equals rand([5])', () => {
    E.manualSeed(7);
    const parts = [...values(E.rand([3])), ...values(E.rand([2]))];
    E.manualSeed(7);
    expect(values(E.rand([5]))).toEqual(parts);
  });

  test('a saved generator state continues the stream where it was saved', () => {
    const g = new E.Generator(99);
    E.rand([3], { generator: g });
    const saved = g.getState();
    const next = values(E.randn([4], { generator: g }));
    E.rand([10], { generator: g });
    g.setState(saved);
    expect(values(E.randn([4], { generator: g }))).toEqual(next);
    // Separate generators do not disturb each other or the default one.
    E.manualSeed(5);
    const plain = values(E.rand([4]));
    E.manualSeed(5);
    E.rand([8], { generator: new E.Generator(5) });
    expect(values(E.rand([4]))).toEqual(plain);
  });

  test('a rejected draw does not advance the generator', () => {
    const g = new E.Generator(3);
    expect(() => E.rand([2], { generator: g, dtype: 'int32' })).toThrow(E.OpInputError);
    expect(g.getState()).toEqual({ seed: 3, offset: 0 });
  });

  test('uniform numbers lie in [0, 1) on the 2^-24 grid, the same in float32 and float64', () => {
    const n = 20000;
    const u = values(E.rand([n], { generator: new E.Generator(11), dtype: 'float64' }));
    expect(Math.min(...u)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...u)).toBeLessThan(1);
    expect(u.every((v) => Number.isInteger(v * 2 ** 24))).toBe(true);
    expect(values(E.rand([n], { generator: new E.Generator(11) }))).toEqual(u);
    // Mean 1/2 and variance 1/12, within 4 standard errors.
    const mean = u.reduce((a, b) => a + b, 0) / n;
    const variance = u.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1);
    expect(Math.abs(mean - 0.5)).toBeLessThan(4 * Math.sqrt(1 / 12 / n));
    expect(Math.abs(variance - 1 / 12)).toBeLessThan(4 * Math.sqrt(1 / 180 / n));
  });

  test('normal numbers have mean 0, variance 1 and 68.3% within one σ, within 4 standard errors', () => {
    const n = 20000;
    const z = values(E.randn([n], { generator: new E.Generator(2024), dtype: 'float64' }));
    const mean = z.reduce((a, b) => a + b, 0) / n;
    const variance = z.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1);
    const withinOne = z.filter((v) => Math.abs(v) < 1).length / n;
    expect(Math.abs(mean)).toBeLessThan(4 / Math.sqrt(n));
    expect(Math.abs(variance - 1)).toBeLessThan(4 * Math.sqrt(2 / n));
    expect(Math.abs(withinOne - 0.6827)).toBeLessThan(4 * Math.sqrt((0.6827 * 0.3173) / n));
    expect(z.every(Number.isFinite)).toBe(true);
  });

  test('randint covers [low, high) evenly and nothing outside it', () => {
    const n = 6000;
    const r = values(E.randint(-3, 3, [n], { generator: new E.Generator(8) }));
    expect(E.randint(0, 2, [1]).dtype).toBe('int32');
    const counts = new Map<number, number>();
    for (const v of r) counts.set(v, (counts.get(v) ?? 0) + 1);
    expect([...counts.keys()].sort((a, b) => a - b)).toEqual([-3, -2, -1, 0, 1, 2]);
    // Each count is binomial(n, 1/6): within 4 standard deviations of n/6.
    for (const c of counts.values()) expect(Math.abs(c - n / 6)).toBeLessThan(4 * Math.sqrt((n * 5) / 36));
    expect(values(E.randint(0, 2 ** 31, [200], { generator: new E.Generator(1) })).every((v) => v >= 0)).toBe(true);
  });

  test('randLike and randnLike copy shape and dtype', () => {
    const x = E.zeros([2, 3], { dtype: 'float64' });
    expect(E.randLike(x).shape).toEqual([2, 3]);
    expect(E.randnLike(x).dtype).toBe('float64');
  });
});
