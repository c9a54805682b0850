import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import * as E from '../../engine/index.js';
import type { Tensor } from '../../engine/index.js';
import { type ValueDomain, distinctValuesArb, shapeArb, tensorArb } from '../helpers/arbitraries.js';
import { nonDifferentiable, opProperty } from '../helpers/props.js';

/*
 * Reductions take their dims and flags as an int32 "parameters" tensor, which gradcheck passes through unchanged,
 * so that one property covers random dims (negative ones included), keepdim and reduce-all.
 *
 * f32 forward tolerances, in units u = 2^-24 of max(1, max|y|), for n ≤ 24 reduced elements of |x| ≤ 2:
 * - sum, amax, amin: exact (dyadic inputs k/64 sum exactly in 24 bits). mean: one rounding of the division.
 * - var: per element, 2|c|·(|m| + |c|)·u + c²·u ≤ 64u from rounding the mean m and the centred c = x − m, over
 *   n − correction ≥ n/2 elements, plus ≤ n·u·var from the sum: 152.
 * - logsumexp: each exp rounds (u), the sum adds (n−1)u relative, log turns that into absolute error, and the
 *   final + max rounds once more: (n + 2)u = 26. softmax: the same sum and two more roundings: 26.
 *   log_softmax: x − logsumexp, one rounding more: 27.
 */

const f64 = (values: number[], shape?: number[]) => E.fromArray(values, shape, { dtype: 'float64' });
const leaf = (values: number[], shape?: number[]) => E.fromArray(values, shape, { dtype: 'float64', requiresGrad: true });
const ints = (...v: number[]) => E.fromArray(v, [v.length], { dtype: 'int32' });
const values = (t: Tensor) => Array.from(t.toArraySync());
const numel = (shape: readonly number[]) => shape.reduce((n, d) => n * d, 1);

interface ReduceParams {
  dims: number[] | undefined;
  keepdim: boolean;
}

/** [x, params]: a tensor and a reduction over a random subset of its dims (negative or not), or over all. */
function reduceCase(values: (n: number) => fc.Arbitrary<number[]> = (n) => tensorValues(n)): fc.Arbitrary<Tensor[]> {
  return shapeArb().chain((shape) =>
    fc.tuple(
      values(numel(shape)).map((v) => f64(v, shape)),
      fc.subarray(shape.map((_, i) => i)),
      fc.array(fc.boolean(), { minLength: shape.length, maxLength: shape.length }),
      fc.boolean(),
      fc.boolean(),
    ).map(([x, dims, negative, all, keepdim]) => [x, ints(+keepdim, +all, ...dims.map((d) => (negative[d] ? d - shape.length : d)))]),
  );
}
function tensorValues(n: number, domain: ValueDomain = {}): fc.Arbitrary<number[]> {
  return fc.array(fc.integer({ min: Math.ceil((domain.min ?? -2) * 64), max: Math.floor((domain.max ?? 2) * 64) }).map((k) => k / 64), { minLength: n, maxLength: n });
}
function readParams(p: Tensor): ReduceParams {
  const [keepdim, all, ...dims] = values(p);
  return { dims: all ? undefined : dims, keepdim: keepdim === 1 };
}

/** [x, dim]: a tensor of rank ≥ 0 and one of its dims. */
const axisCase: fc.Arbitrary<Tensor[]> = shapeArb().chain((shape) =>
  fc.tuple(tensorArb(shape), fc.integer({ min: -Math.max(shape.length, 1), max: Math.max(shape.length, 1) - 1 })).map(([x, dim]) => [x, ints(dim)]),
);

describe('gradients', () => {
  opProperty('sum', {
    inputs: reduceCase(),
    fn: (x, p) => {
      const { dims, keepdim } = readParams(p!);
      return E.sum(x!, dims, keepdim);
    },
    f32ForwardUlps: 1,
  });
  opProperty('mean', {
    inputs: reduceCase(),
    fn: (x, p) => {
      const { dims, keepdim } = readParams(p!);
      return E.mean(x!, dims, keepdim);
    },
    f32ForwardUlps: 1,
  });
  // Distinct values: ties are a kink (checked exactly below).
  opProperty('amax', {
    inputs: reduceCase((n) => distinctValuesArb(n)),
    fn: (x, p) => {
      const { dims, keepdim } = readParams(p!);
      return E.amax(x!, dims, keepdim);
    },
    f32ForwardUlps: 1,
  });
  opProperty('amin', {
    inputs: reduceCase((n) => distinctValuesArb(n)),
    fn: (x, p) => {
      const { dims, keepdim } = readParams(p!);
      return E.amin(x!, dims, keepdim);
    },
    f32ForwardUlps: 1,
  });
  opProperty('var', {
    inputs: fc
      .tuple(reduceCase(), fc.integer({ min: 0, max: 1 }))
      .filter(([[x, p], correction]) => {
        const { dims } = readParams(p!);
        const reduced = dims === undefined ? x!.shape : dims.map((d) => x!.shape.at(d)!);
        return numel(reduced) > correction;
      })
      .map(([[x, p], correction]) => [x!, p!, ints(correction)]),
    fn: (x, p, c) => {
      const { dims, keepdim } = readParams(p!);
      return E.variance(x!, dims, { keepdim, correction: c!.itemSync() });
    },
    f32ForwardUlps: 152,
  });
  opProperty('logsumexp', {
    inputs: reduceCase(),
    fn: (x, p) => {
      const { dims, keepdim } = readParams(p!);
      return E.logsumexp(x!, dims, keepdim);
    },
    f32ForwardUlps: 26,
  });
  opProperty('softmax', { inputs: axisCase, fn: (x, d) => E.softmax(x!, d!.itemSync()), f32ForwardUlps: 26 });
  opProperty('log_softmax', { inputs: axisCase, fn: (x, d) => E.logSoftmax(x!, d!.itemSync()), f32ForwardUlps: 27 });
});

describe('ops without a gradient', () => {
  nonDifferentiable('argmax', () => E.argmax(leaf([1, 3, 2])));
  nonDifferentiable('argmin', () => E.argmin(leaf([1, 3, 2]), 0, true));
});

describe('values', () => {
  const x23 = () => f64([1, 5, 2, 7, 3, 0], [2, 3]);

  test('sum, mean, amax, amin along dims, with keepdim and negative dims', () => {
    expect(values(E.sum(x23()))).toEqual([18]);
    expect(values(E.sum(x23(), 0))).toEqual([8, 8, 2]);
    expect(E.sum(x23(), -1, true).shape).toEqual([2, 1]);
    expect(values(E.sum(x23(), [0, 1]))).toEqual([18]);
    expect(values(E.mean(x23(), 1))).toEqual([8 / 3, 10 / 3]);
    expect(values(E.amax(x23(), 1))).toEqual([5, 7]);
    expect(values(E.amin(x23(), 0))).toEqual([1, 3, 0]);
    expect(E.sum(E.scalar(3), 0).shape).toEqual([]);
  });

  test('reductions see through strided views', () => {
    const t = E.transpose(x23());
    expect(values(E.sum(t, 1))).toEqual([8, 8, 2]);
    expect(values(E.amax(E.narrow(x23(), 1, 1, 2), 1))).toEqual([5, 3]);
  });

  test('argmax/argmin: first occurrence of ties, flat index without a dim, int32 result', () => {
    const t = f64([1, 3, 3, 0, 0, 2], [2, 3]);
    expect(values(E.argmax(t))).toEqual([1]);
    expect(values(E.argmin(t))).toEqual([3]);
    expect(values(E.argmax(t, 1))).toEqual([1, 2]);
    expect(values(E.argmin(t, 1))).toEqual([0, 0]);
    expect(values(E.argmax(t, 0))).toEqual([0, 0, 0]);
    expect(values(E.argmin(f64([2, 2, 1, 1]), 0))).toEqual([2]);
    expect(E.argmax(t, 1, true).shape).toEqual([2, 1]);
    expect(E.argmax(t, undefined, true).shape).toEqual([]);
    expect(E.argmax(t).dtype).toBe('int32');
  });

  test('NaN propagates through amax/amin/sum, and argmax/argmin point at the first NaN (as PyTorch)', () => {
    const t = f64([1, NaN, 3, NaN]);
    expect(values(E.amax(t))).toEqual([NaN]);
    expect(values(E.amin(t))).toEqual([NaN]);
    expect(values(E.sum(t))).toEqual([NaN]);
    expect(values(E.argmax(t))).toEqual([1]);
    expect(values(E.argmin(t))).toEqual([1]);
    expect(values(E.argmax(f64([NaN, 5])))).toEqual([0]);
  });

  test('var and std: correction 1 by default (unbiased), 0 for the population; too few elements give NaN or ∞', () => {
    const t = f64([1, 2, 3, 4]);
    expect(values(E.variance(t))).toEqual([5 / 3]);
    expect(values(E.variance(t, undefined, { correction: 0 }))).toEqual([1.25]);
    expect(values(E.std(t, 0, { correction: 0 }))).toEqual([Math.sqrt(1.25)]);
    expect(E.variance(f64([1, 2, 3, 4], [2, 2]), 1, { keepdim: true }).shape).toEqual([2, 1]);
    expect(values(E.variance(f64([1, 3], [2, 1]), 1))).toEqual([NaN, NaN]);
    expect(values(E.variance(f64([1, 3]), 0, { correction: 2 }))).toEqual([Infinity]);
  });

  test('logsumexp, softmax and log_softmax are stable for large inputs and follow PyTorch at ±∞', () => {
    expect(values(E.logsumexp(f64([1000, 1000])))).toEqual([1000 + Math.LN2]);
    expect(values(E.softmax(f64([1000, 1000, -1000])))).toEqual([0.5, 0.5, 0]);
    expect(values(E.logSoftmax(f64([1000, 1000])))).toEqual([-Math.LN2, -Math.LN2]);
    expect(values(E.logsumexp(f64([-Infinity, -Infinity])))).toEqual([-Infinity]);
    expect(values(E.logsumexp(f64([Infinity, 0])))).toEqual([Infinity]);
    expect(values(E.logsumexp(f64([-Infinity, 0])))).toEqual([0]);
    expect(values(E.softmax(f64([-Infinity, 0])))).toEqual([0, 1]);
    expect(values(E.softmax(f64([-Infinity, -Infinity])))).toEqual([NaN, NaN]);
  });

  test('softmax of a 0-d tensor is 1', () => {
    expect(values(E.softmax(E.scalar(3, { dtype: 'float64' })))).toEqual([1]);
    expect(values(E.logSoftmax(E.scalar(3, { dtype: 'float64' })))).toEqual([0]);
  });

  test('softmax is equivariant under transposition: softmax(x, 0) = softmax(xᵀ, 1)ᵀ (P8)', () => {
    fc.assert(
      fc.property(shapeArb({ minRank: 2, maxRank: 2 }).chain((s) => tensorArb(s)), (x) => {
        expect(values(E.softmax(x, 0))).toEqual(values(E.transpose(E.softmax(E.transpose(x), 1))));
      }),
    );
  });
});

describe('size-0 dims', () => {
  test('a sum over nothing is 0, and a mean over nothing is NaN (as PyTorch)', () => {
    expect(values(E.sum(E.zeros([0])))).toEqual([0]);
    const empty = E.zeros([2, 0, 3], { dtype: 'float64' });
    expect(E.sum(empty, 1).shape).toEqual([2, 3]);
    expect(values(E.sum(empty, 1))).toEqual([0, 0, 0, 0, 0, 0]);
    expect(values(E.sum(empty, [0, 1], true))).toEqual([0, 0, 0]);
    expect(E.sum(empty, 2).shape).toEqual([2, 0]);
    expect(values(E.mean(E.zeros([0], { dtype: 'float64' })))).toEqual([NaN]);
  });

  test('max and min reduce kept size-0 dims but refuse to reduce one', () => {
    const empty = E.zeros([0, 3]);
    expect(E.amax(empty, 1).shape).toEqual([0]);
    expect(E.argmin(empty, 1).shape).toEqual([0]);
    expect(() => E.amax(empty, 0)).toThrow(/amax: cannot reduce over dim 0 of size 0/);
    expect(() => E.argmax(empty)).toThrow(/argmax/);
  });

  test('logsumexp over nothing is −∞; softmax of an empty tensor is empty', () => {
    expect(values(E.logsumexp(E.zeros([2, 0], { dtype: 'float64' }), 1))).toEqual([-Infinity, -Infinity]);
    expect(E.softmax(E.zeros([2, 0]), 1).shape).toEqual([2, 0]);
  });

  test('the gradient of a sum over nothing is an empty tensor', () => {
    const x = E.zeros([3, 0], { dtype: 'float64', requiresGrad: true });
    E.sum(x).backward();
    expect(x.grad!.shape).toEqual([3, 0]);
  });
});

describe('tie conventions, exactly at the tie (P7)', () => {
  test('amax and amin split the gradient evenly between tied elements', () => {
    const x = leaf([1, 3, 3, 3, 0, 0], [2, 3]);
    E.sum(E.amax(x)).backward();
    expect(values(x.grad!)).toEqual([0, 1 / 3, 1 / 3, 1 / 3, 0, 0]);
    const y = leaf([1, 3, 3, 3, 0, 0], [2, 3]);
    E.sum(E.amin(y, 1)).backward();
    expect(values(y.grad!)).toEqual([1, 0, 0, 0, 0.5, 0.5]);
  });
});

describe('metamorphic properties (P8)', () => {
  /** A cotangent of distinct dyadic values for an output of `shape`. */
  const cotangent = (shape: readonly number[]) => f64(Array.from({ length: numel(shape) }, (_, i) => ((i * 7) % 11) / 4 - 1), [...shape]);

  test('softmax and log_softmax input-gradients sum to 0 along the axis', () => {
    fc.assert(
      fc.property(axisCase, ([x, d]) => {
        const dim = d!.itemSync();
        for (const f of [E.softmax, E.logSoftmax]) {
          const xl = x!.detach().requiresGrad_();
          const [g] = E.grad(f(xl, dim), [xl], [cotangent(x!.shape)]);
          const scale = Math.max(1, ...values(g!).map(Math.abs));
          for (const s of values(E.sum(g!, x!.rank === 0 ? undefined : dim))) expect(Math.abs(s)).toBeLessThanOrEqual(32 * Number.EPSILON * scale);
        }
      }),
    );
  });

  test('the gradient of sum is the cotangent broadcast back; of mean, the cotangent over n', () => {
    fc.assert(
      fc.property(reduceCase(), ([x, p]) => {
        const { dims, keepdim } = readParams(p!);
        const all = dims === undefined ? x!.shape.map((_, i) => i) : dims.map((d) => (d < 0 ? d + x!.rank : d));
        const kept = x!.shape.map((s, i) => (all.includes(i) ? 1 : s));
        const n = numel(all.map((d) => x!.shape[d]!));
        const xl = x!.detach().requiresGrad_();
        const ySum = E.sum(xl, dims, keepdim);
        const v = cotangent(ySum.shape);
        const broadcast = values(E.contiguous(E.expand(E.reshape(v, kept), x!.shape)));
        expect(values(E.grad(ySum, [xl], [v])[0]!)).toEqual(broadcast);
        expect(values(E.grad(E.mean(xl, dims, keepdim), [xl], [v])[0]!)).toEqual(broadcast.map((b) => b / n));
      }),
    );
  });
});
