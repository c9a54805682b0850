import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import * as E from '../../engine/index.js';
import type { Tensor } from '../../engine/index.js';
import { broadcastShapes } from '../../engine/shape.js';
import { type ValueDomain, broadcastPairArb, shapeArb, tensorArb, valuesArb } from '../helpers/arbitraries.js';
import { nonDifferentiable, opProperty } from '../helpers/props.js';

/*
 * f32 forward tolerances (f32ForwardUlps, in units of 2^-24 of the largest output): every kernel here computes
 * in float64 and rounds once on store, so its float32 result is within half an ulp of the exact value of the
 * same float32 inputs: 1 unit.
 */
const ROUNDED_ONCE = 1;

const f64 = (values: number[], shape?: number[]) => E.fromArray(values, shape, { dtype: 'float64' });
const leaf = (values: number[], shape?: number[]) => E.fromArray(values, shape, { dtype: 'float64', requiresGrad: true });
const values = (t: Tensor) => Array.from(t.toArraySync());

function unary(domain?: ValueDomain): fc.Arbitrary<Tensor[]> {
  return shapeArb().chain((s) => tensorArb(s, domain)).map((x) => [x]);
}
function binary(da?: ValueDomain, db?: ValueDomain): fc.Arbitrary<Tensor[]> {
  return broadcastPairArb().chain(([a, b]) => fc.tuple(tensorArb(a, da), tensorArb(b, db)));
}
/** Pairs that never tie: b sits on the odd multiples of 1/128, a on multiples of 1/64. */
function untied(): fc.Arbitrary<Tensor[]> {
  return binary().map(([a, b]) => [a!, E.add(b!, 1 / 128)]);
}

const POSITIVE: ValueDomain = { min: 0.125, max: 4 };

describe('unary ops: gradients', () => {
  opProperty('neg', { inputs: unary(), fn: E.neg, f32ForwardUlps: ROUNDED_ONCE });
  opProperty('exp', { inputs: unary(), fn: E.exp, f32ForwardUlps: ROUNDED_ONCE });
  opProperty('log', { inputs: unary(POSITIVE), fn: E.log, f32ForwardUlps: ROUNDED_ONCE });
  opProperty('sqrt', { inputs: unary(POSITIVE), fn: E.sqrt, f32ForwardUlps: ROUNDED_ONCE });
  opProperty('rsqrt', { inputs: unary(POSITIVE), fn: E.rsqrt, f32ForwardUlps: ROUNDED_ONCE });
  opProperty('abs', { inputs: unary({ avoid: [0] }), fn: E.abs, f32ForwardUlps: ROUNDED_ONCE });
  opProperty('sign', { inputs: unary({ avoid: [0] }), fn: E.sign, f32ForwardUlps: ROUNDED_ONCE });
  opProperty('sin', { inputs: unary({ min: -4, max: 4 }), fn: E.sin, f32ForwardUlps: ROUNDED_ONCE });
  opProperty('cos', { inputs: unary({ min: -4, max: 4 }), fn: E.cos, f32ForwardUlps: ROUNDED_ONCE });
  opProperty('tanh', { inputs: unary({ min: -3, max: 3 }), fn: E.tanh, f32ForwardUlps: ROUNDED_ONCE });
  opProperty('sigmoid', { inputs: unary({ min: -4, max: 4 }), fn: E.sigmoid, f32ForwardUlps: ROUNDED_ONCE });
  opProperty('erf', { inputs: unary({ min: -3, max: 3 }), fn: E.erf, f32ForwardUlps: ROUNDED_ONCE });
  // Both directions: f64 → f32 rounds nothing here, since dyadic inputs with ±h steps fit in 24 bits.
  opProperty('cast', { inputs: unary(), fn: (x) => E.cast(x, x.dtype === 'float64' ? 'float32' : 'float64'), f32ForwardUlps: ROUNDED_ONCE });
});

describe('binary ops: gradients (with broadcasting)', () => {
  opProperty('add', { inputs: binary(), fn: E.add, f32ForwardUlps: ROUNDED_ONCE });
  opProperty('sub', { inputs: binary(), fn: E.sub, f32ForwardUlps: ROUNDED_ONCE });
  opProperty('mul', { inputs: binary(), fn: E.mul, f32ForwardUlps: ROUNDED_ONCE });
  opProperty('div', { inputs: binary({}, { avoid: [0], avoidRadius: 0.25 }), fn: E.div, f32ForwardUlps: ROUNDED_ONCE });
  opProperty('pow', { inputs: binary({ min: 0.25, max: 2 }, { min: -2, max: 2 }), fn: E.pow, f32ForwardUlps: ROUNDED_ONCE });
  opProperty('maximum', { inputs: untied(), fn: E.maximum, f32ForwardUlps: ROUNDED_ONCE });
  opProperty('minimum', { inputs: untied(), fn: E.minimum, f32ForwardUlps: ROUNDED_ONCE });
  opProperty('where', {
    inputs: broadcastPairArb().chain(([s1, s2]) =>
      fc.tuple(
        valuesArb(s1.reduce((n, d) => n * d, 1), { min: 0, max: 1, bits: 0 }).map((c) => f64(c, s1)),
        tensorArb(s2),
        tensorArb(s2.slice(1)),
      ),
    ),
    fn: E.where,
    wrt: [1, 2],
    f32ForwardUlps: ROUNDED_ONCE,
  });
});

describe('ops without a gradient', () => {
  const x = () => leaf([1, 2, 3]);
  nonDifferentiable('eq', () => E.eq(x(), 2));
  nonDifferentiable('ne', () => E.ne(x(), 2));
  nonDifferentiable('lt', () => E.lt(x(), 2));
  nonDifferentiable('le', () => E.le(x(), 2));
  nonDifferentiable('gt', () => E.gt(x(), 2));
  nonDifferentiable('ge', () => E.ge(x(), 2));
  nonDifferentiable('floor', () => E.floor(x()));
});

describe('values', () => {
  test('comparisons give 1/0 in the input dtype, NaN compares unequal to everything', () => {
    const a = f64([1, 2, NaN, 3]);
    const b = f64([1, 3, NaN, 2]);
    expect(values(E.eq(a, b))).toEqual([1, 0, 0, 0]);
    expect(values(E.ne(a, b))).toEqual([0, 1, 1, 1]);
    expect(values(E.lt(a, b))).toEqual([0, 1, 0, 0]);
    expect(values(E.le(a, b))).toEqual([1, 1, 0, 0]);
    expect(values(E.gt(a, b))).toEqual([0, 0, 0, 1]);
    expect(values(E.ge(a, b))).toEqual([1, 0, 0, 1]);
    expect(E.lt(E.fromArray([1, 5], [2], { dtype: 'int32' }), 3).dtype).toBe('int32');
  });

  test('NaN in gives NaN out (P11)', () => {
    const nan = f64([NaN]);
    for (const f of [E.neg, E.exp, E.log, E.sqrt, E.rsqrt, E.abs, E.sign, E.sin, E.cos, E.tanh, E.sigmoid, E.erf, E.floor]) {
      expect(values(f(nan)), f.name).toEqual([NaN]);
    }
    for (const f of [E.add, E.sub, E.mul, E.div, E.maximum, E.minimum]) {
      expect(values(f(nan, f64([1]))), f.name).toEqual([NaN]);
      expect(values(f(f64([1]), nan)), f.name).toEqual([NaN]);
    }
  });

  test('special values follow C and PyTorch', () => {
    expect(values(E.sign(f64([-3, -0, 0, 2])))).toEqual([-1, 0, 0, 1]);
    expect(values(E.sqrt(f64([-1, 0, Infinity])))).toEqual([NaN, 0, Infinity]);
    expect(values(E.log(f64([0, -1])))).toEqual([-Infinity, NaN]);
    expect(values(E.rsqrt(f64([0])))).toEqual([Infinity]);
    expect(values(E.sigmoid(f64([-800, 800])))).toEqual([0, 1]);
    expect(values(E.floor(f64([-1.5, 1.5, -0])))).toEqual([-2, 1, -0]);
    // C's pow: 1^y = 1 for every y, (−1)^±∞ = 1, x^0 = 1 for every x (JavaScript gives NaN for the first two).
    expect(values(E.pow(f64([1, 1, -1, -1, NaN, 0]), f64([NaN, Infinity, Infinity, -Infinity, 0, 0])))).toEqual([1, 1, 1, 1, 1, 1]);
    expect(values(E.pow(f64([-8, -2, 0]), f64([1 / 3, 3, -1])))).toEqual([NaN, -8, Infinity]);
  });

  test('erf matches reference values to a few ulp', () => {
    // Reference values: Python's math.erf (libm).
    const cases: [number, number][] = [
      [1e-10, 1.1283791670955126e-10],
      [0.5, 0.5204998778130465],
      [1, 0.8427007929497149],
      [-1.5, -0.9661051464753108],
      [2, 0.9953222650189527],
      [3, 0.9999779095030014],
      [5, 0.9999999999984626],
      [7, 1],
    ];
    const got = values(E.erf(f64(cases.map(([x]) => x))));
    cases.forEach(([x, want], i) => expect(Math.abs(got[i]! - want), `erf(${x})`).toBeLessThanOrEqual(4 * Number.EPSILON * Math.abs(want)));
  });

  test('int32 arithmetic wraps like C', () => {
    const big = E.fromArray([2147483647, 46341], [2], { dtype: 'int32' });
    expect(values(E.mul(big, big))).toEqual([1, -2147479015]);
    expect(values(E.add(big, 1))).toEqual([-2147483648, 46342]);
    expect(values(E.neg(E.fromArray([-2147483648], [1], { dtype: 'int32' })))).toEqual([-2147483648]);
  });

  test('cast truncates toward zero into int32 and rounds once into float32', () => {
    expect(values(E.cast(f64([-1.7, -0.5, 1.7, 3]), 'int32'))).toEqual([-1, 0, 1, 3]);
    expect(values(E.cast(f64([0.1]), 'float32'))).toEqual([Math.fround(0.1)]);
    const x = f64([1, 2]);
    expect(E.cast(x, 'float64')).toBe(x);
  });

  test('where takes numbers for either branch, in the dtype of the other branch or of cond', () => {
    const c = E.fromArray([1, 0, 1], [3]);
    expect(values(E.where(c, 5, 7))).toEqual([5, 7, 5]);
    expect(E.where(c, 5, 7).dtype).toBe('float32');
    expect(E.where(c, f64([1, 2, 3]), 0).dtype).toBe('float64');
    // A NaN in the branch not taken never reaches the output.
    expect(values(E.where(c, f64([NaN, NaN, 1]), f64([2, 3, NaN])))).toEqual([NaN, 3, 1]);
  });

  test('strided and broadcast operands give the same values as contiguous ones', () => {
    const x = E.fromArray(Array.from({ length: 12 }, (_, i) => i - 5.5), [3, 4], { dtype: 'float64' });
    const xt = E.transpose(x);
    const copy = E.contiguous(xt);
    expect(xt.isContiguous).toBe(false);
    expect(values(E.exp(xt))).toEqual(values(E.exp(copy)));
    const row = f64([1, 2, 3]);
    expect(values(E.mul(xt, row))).toEqual(values(E.mul(copy, E.contiguous(E.expand(row, [4, 3])))));
    expect(values(E.add(E.narrow(x, 1, 1, 2), 1))).toEqual(values(E.add(E.contiguous(E.narrow(x, 1, 1, 2)), 1)));
  });
});

describe('kink conventions, exactly at the kink (P7)', () => {
  function gradOf(f: (x: Tensor) => Tensor, at: number[]): number[] {
    const x = leaf(at);
    E.sum(f(x)).backward();
    return values(x.grad!);
  }

  test("abs′(0) = 0 and sign′ = 0", () => {
    expect(gradOf(E.abs, [-2, 0, -0, 3])).toEqual([-1, 0, 0, 1]);
    expect(gradOf(E.sign, [-2, 0, 3])).toEqual([0, 0, 0]);
  });

  test("sqrt′(0) = +∞", () => {
    expect(gradOf(E.sqrt, [0, 4])).toEqual([Infinity, 0.25]);
  });

  test('maximum and minimum split ties 0.5/0.5; the losing input gets 0', () => {
    for (const f of [E.maximum, E.minimum]) {
      const a = leaf([1, 2, 3]);
      const b = leaf([2, 2, 1]);
      E.sum(f(a, b)).backward();
      const aWins = f === E.maximum ? [0, 0.5, 1] : [1, 0.5, 0];
      expect(values(a.grad!), f.name).toEqual(aWins);
      expect(values(b.grad!), f.name).toEqual(aWins.map((s) => 1 - s));
    }
  });

  test('maximum gives a broadcast operand the sum of its shares', () => {
    const a = leaf([1, 2, 3]);
    const b = leaf([2]);
    E.sum(E.maximum(a, b)).backward();
    expect(values(b.grad!)).toEqual([1.5]);
  });

  test("where's untaken branch receives exactly 0, even where the incoming gradient is NaN or ∞", () => {
    const c = E.fromArray([1, 0, 1, 0], [4], { dtype: 'float64' });
    const a = leaf([1, 2, 3, 4]);
    const b = leaf([5, 6, 7, 8]);
    const [ga, gb] = E.grad(E.where(c, a, b), [a, b], [f64([NaN, Infinity, 2, NaN])]);
    expect(values(ga!)).toEqual([NaN, 0, 2, 0]);
    expect(values(gb!)).toEqual([0, Infinity, 0, NaN]);
  });

  test('where(x > 0, log x, 0) at x = 0: the log branch gets 0, yet 0·log′(0) is NaN, as in PyTorch', () => {
    const x = leaf([0, 1]);
    const logX = E.log(x);
    const y = E.where(E.gt(x, 0), logX, 0);
    const [gLog, gx] = E.grad(E.sum(y), [logX, x]);
    expect(values(gLog!)).toEqual([0, 1]);
    expect(values(gx!)).toEqual([NaN, 1]);
    // The usual remedy: keep the untaken branch's input inside the domain as well.
    const x2 = leaf([0, 1]);
    const safe = E.where(E.gt(x2, 0), E.log(E.where(E.gt(x2, 0), x2, 1)), 0);
    E.sum(safe).backward();
    expect(values(x2.grad!)).toEqual([0, 1]);
  });

  test('pow: base slope 0 where the exponent is 0, exponent slope 0 at base 0 (PyTorch masks)', () => {
    const a = leaf([0, 0, 2]);
    const b = leaf([0, 2, 0]);
    E.sum(E.pow(a, b)).backward();
    expect(values(a.grad!)).toEqual([0, 0, 0]);
    expect(values(b.grad!)).toEqual([0, 0, Math.log(2)]);
  });

  test('pow with a constant exponent never evaluates the exponent rule (no NaN from log of a negative base)', () => {
    const x = leaf([-2, 3]);
    E.detectAnomaly(() => E.sum(E.pow(x, 2)).backward());
    expect(values(x.grad!)).toEqual([-4, 6]);
  });
});

describe('broadcasting (P3)', () => {
  /** Flat index into `shape` of the element that broadcasting maps output element `i` (of `out`) to. */
  function sourceIndex(i: number, out: readonly number[], shape: readonly number[]): number {
    let flat = 0;
    let stride = 1;
    for (let d = out.length - 1, s = shape.length - 1; d >= 0; d--, s--) {
      const coord = i % out[d]!;
      i = Math.floor(i / out[d]!);
      if (s < 0) continue;
      if (shape[s] !== 1) flat += coord * stride;
      stride *= shape[s]!;
    }
    return flat;
  }

  test('a broadcast operand gets the cotangent summed over its broadcast dims, the same as expand then mul', () => {
    fc.assert(
      fc.property(
        broadcastPairArb().chain(([a, b]) => fc.tuple(tensorArb(a), tensorArb(b))),
        ([a, b]) => {
          const out = broadcastShapes('mul', a.shape, b.shape);
          const n = out.reduce((p, d) => p * d, 1);
          const v = f64(Array.from({ length: n }, (_, i) => (i + 1) / 8), out);
          const [ga, gb] = gradsOf(E.mul, a, b, v);
          const [gaExpanded, gbExpanded] = gradsOf((x, y) => E.mul(E.expand(x, out), E.expand(y, out)), a, b, v);
          expect(ga!.shape).toEqual(a.shape);
          expect(gb!.dtype).toBe(b.dtype);
          expect(values(ga!)).toEqual(values(gaExpanded!));
          expect(values(gb!)).toEqual(values(gbExpanded!));
          // For add, the gradient is the plain sum of the cotangent over the elements each input element fed.
          const [gAdd] = gradsOf(E.add, a, b, v);
          const want = new Array<number>(a.size).fill(0);
          values(v).forEach((vi, i) => (want[sourceIndex(i, out, a.shape)]! += vi));
          expect(values(gAdd!)).toEqual(want);
        },
      ),
    );
  });
});

function gradsOf(f: (a: Tensor, b: Tensor) => Tensor, a: Tensor, b: Tensor, v: Tensor): Tensor[] {
  const al = a.detach().requiresGrad_();
  const bl = b.detach().requiresGrad_();
  return E.grad(f(al, bl), [al, bl], [v]);
}
