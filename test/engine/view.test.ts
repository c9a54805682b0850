import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import * as E from '../../engine/index.js';
import type { Tensor } from '../../engine/index.js';
import { broadcastShapes } from '../../engine/shape.js';
import { broadcastPairArb, shapeArb, tensorArb } from '../helpers/arbitraries.js';
import { opProperty } from '../helpers/props.js';

/*
 * Views and copies move values without arithmetic, so their float32 results equal the float64 ones exactly
 * (f32ForwardUlps 1, the smallest meaningful setting). Shapes and other arguments travel as an int32 parameters
 * tensor, which gradcheck passes through unchanged.
 */

const f64 = (values: number[], shape?: number[]) => E.fromArray(values, shape, { dtype: 'float64' });
const ints = (...v: number[]) => E.fromArray(v, [v.length], { dtype: 'int32' });
const values = (t: Tensor) => Array.from(t.toArraySync());
const iota = (shape: number[]) => f64(Array.from({ length: shape.reduce((n, d) => n * d, 1) }, (_, i) => i), shape);

/** A reshape target: the same sides in another order, some neighbours merged, maybe one of them -1. */
const reshapeCase = shapeArb().chain((shape) =>
  fc
    .tuple(tensorArb(shape), fc.shuffledSubarray(shape, { minLength: shape.length, maxLength: shape.length }), fc.array(fc.boolean(), { minLength: shape.length, maxLength: shape.length }), fc.nat())
    .map(([x, sides, merge, free]) => {
      const target: number[] = [];
      sides.forEach((s, i) => (i > 0 && merge[i] ? (target[target.length - 1]! *= s) : target.push(s)));
      if (target.length) target[free % target.length] = -1;
      return [x, ints(...target)];
    }),
);

const permuteCase = shapeArb().chain((shape) =>
  fc.tuple(tensorArb(shape), fc.shuffledSubarray(shape.map((_, i) => i), { minLength: shape.length, maxLength: shape.length })).map(([x, order]) => [x, ints(...order)]),
);

/** x and a shape it broadcasts to (with -1 for some of its own dims). */
const expandCase = broadcastPairArb().chain(([a, b]) =>
  fc.tuple(tensorArb(a), fc.array(fc.boolean(), { minLength: 4, maxLength: 4 })).map(([x, keep]) => {
    const target = broadcastShapes('expand', a, b);
    const lead = target.length - a.length;
    return [x, ints(...target.map((s, i) => (i >= lead && keep[i] && a[i - lead] === s ? -1 : s)))];
  }),
);

const narrowCase = shapeArb({ minRank: 1 }).chain((shape) =>
  fc
    .integer({ min: 0, max: shape.length - 1 })
    .chain((dim) => fc.tuple(tensorArb(shape), fc.constant(dim), fc.integer({ min: 0, max: shape[dim]! })))
    .chain(([x, dim, start]) => fc.integer({ min: 0, max: shape[dim]! - start }).map((length) => [x, ints(dim, start, length)])),
);

/** Per-dim (before, after) amounts in −1..2, never cropping a dim below size 0, for some trailing dims. */
const padCase = shapeArb({ minRank: 1, maxNumel: 12 }).chain((shape) =>
  fc
    .tuple(tensorArb(shape), fc.integer({ min: 1, max: shape.length }), fc.array(fc.integer({ min: -1, max: 2 }), { minLength: 2 * shape.length, maxLength: 2 * shape.length }))
    .map(([x, dims, amounts]) => {
      const pads = amounts.slice(0, 2 * dims);
      for (let k = 0; k < dims; k++) {
        const side = shape[shape.length - 1 - k]!;
        if (side + pads[2 * k]! + pads[2 * k + 1]! < 0) pads[2 * k] = pads[2 * k + 1] = 0;
      }
      return [x, ints(...pads)];
    }),
);

describe('gradients', () => {
  opProperty('reshape', { inputs: reshapeCase, fn: (x, t) => E.reshape(x!, values(t!)), f32ForwardUlps: 1 });
  opProperty('permute', { inputs: permuteCase, fn: (x, o) => E.permute(x!, values(o!)), f32ForwardUlps: 1 });
  opProperty('expand', { inputs: expandCase, fn: (x, t) => E.expand(x!, values(t!)), f32ForwardUlps: 1 });
  opProperty('narrow', {
    inputs: narrowCase,
    fn: (x, p) => {
      const [dim, start, length] = values(p!);
      return E.narrow(x!, dim!, start!, length!);
    },
    f32ForwardUlps: 1,
  });
  opProperty('pad', { inputs: padCase, fn: (x, p) => E.pad(x!, values(p!), 0.5), f32ForwardUlps: 1 });
  describe('contiguous input', () => {
    opProperty('copy', { inputs: shapeArb().chain((s) => tensorArb(s)).map((x) => [x]), fn: E.clone, f32ForwardUlps: 1 });
  });
  describe('strided input', () => {
    opProperty('copy', { inputs: permuteCase, fn: (x, o) => E.contiguous(E.permute(x!, values(o!))), f32ForwardUlps: 1, numRuns: 15 });
  });
});

describe('views share storage; copies do not', () => {
  test('reshape, permute, transpose, expand, narrow, squeeze and unsqueeze are views', () => {
    const x = iota([2, 3, 1]);
    for (const v of [E.reshape(x, [6]), E.permute(x, [2, 0, 1]), E.transpose(x, 0, 1), E.expand(x, [4, 2, 3, 5]), E.narrow(x, 1, 1, 2), E.squeeze(x), E.unsqueeze(x, 0), E.flatten(x)]) {
      expect(v.storage).toBe(x.storage);
    }
    expect(values(E.permute(x, [1, 0, 2]))).toEqual([0, 3, 1, 4, 2, 5]);
    expect(E.expand(f64([1, 2], [2, 1]), [2, 3]).strides).toEqual([1, 0]);
  });

  test('reshape of a non-contiguous tensor copies, in row-major order of the view', () => {
    const t = E.transpose(iota([2, 3]));
    const r = E.reshape(t, [6]);
    expect(r.storage).not.toBe(t.storage);
    expect(values(r)).toEqual([0, 3, 1, 4, 2, 5]);
  });

  test('contiguous returns the tensor itself when it already is; clone always copies', () => {
    const x = iota([2, 2]);
    expect(E.contiguous(x)).toBe(x);
    expect(E.clone(x).storage).not.toBe(x.storage);
    expect(values(E.clone(x))).toEqual(values(x));
  });

  test('detach shares storage and leaves the graph', () => {
    const x = E.fromArray([1, 2], [2], { dtype: 'float64', requiresGrad: true });
    const y = E.mul(x, 3);
    const d = E.detach(y);
    expect(d.storage).toBe(y.storage);
    expect(d.requiresGrad).toBe(false);
    expect(d.gradFn).toBeNull();
  });
});

describe('shape semantics (PyTorch)', () => {
  test('reshape infers one -1 and keeps element order', () => {
    const x = iota([2, 3, 4]);
    expect(E.reshape(x, [-1, 4]).shape).toEqual([6, 4]);
    expect(E.reshape(x, [4, -1]).shape).toEqual([4, 6]);
    expect(E.reshape(E.zeros([0, 3]), [3, 0]).shape).toEqual([3, 0]);
    expect(values(E.reshape(x, [24]))).toEqual(values(x));
  });

  test('flatten, squeeze, unsqueeze, transpose', () => {
    const x = iota([2, 1, 3, 1]);
    expect(E.flatten(x).shape).toEqual([6]);
    expect(E.flatten(x, 1).shape).toEqual([2, 3]);
    expect(E.flatten(x, 0, -2).shape).toEqual([6, 1]);
    expect(E.flatten(E.scalar(1)).shape).toEqual([1]);
    expect(E.squeeze(x).shape).toEqual([2, 3]);
    expect(E.squeeze(x, 1).shape).toEqual([2, 3, 1]);
    expect(E.squeeze(x, 0).shape).toEqual([2, 1, 3, 1]);
    expect(E.squeeze(x, [1, -1]).shape).toEqual([2, 3]);
    expect(E.unsqueeze(x, -1).shape).toEqual([2, 1, 3, 1, 1]);
    expect(E.unsqueeze(E.scalar(1), 0).shape).toEqual([1]);
    expect(E.transpose(iota([2, 3, 4])).shape).toEqual([2, 4, 3]);
    expect(E.transpose(iota([2, 3, 4]), 0, 2).shape).toEqual([4, 3, 2]);
  });

  test('expand keeps -1 dims and adds leading ones; permute rejects non-permutations', () => {
    expect(E.expand(iota([3, 1]), [2, -1, 4]).shape).toEqual([2, 3, 4]);
    expect(values(E.expand(f64([7]), [3]))).toEqual([7, 7, 7]);
    expect(E.permute(iota([2, 3]), [-1, 0]).shape).toEqual([3, 2]);
  });

  test('narrow takes a negative start from the end; slice clamps like Python', () => {
    const x = iota([5]);
    expect(values(E.narrow(x, 0, -2, 2))).toEqual([3, 4]);
    expect(values(E.slice(x, 0, 1, 3))).toEqual([1, 2]);
    expect(values(E.slice(x, 0, -2))).toEqual([3, 4]);
    expect(values(E.slice(x, 0, 3, 100))).toEqual([3, 4]);
    expect(values(E.slice(x, 0, 4, 2))).toEqual([]);
    expect(values(E.slice(x, 0, -100, -3))).toEqual([0, 1]);
  });

  test('pad grows with a constant and crops with negative amounts, last dim first', () => {
    const x = iota([2, 2]);
    expect(values(E.pad(x, [1, 0], -1))).toEqual([-1, 0, 1, -1, 2, 3]);
    expect(E.pad(x, [0, 0, 1, 1]).shape).toEqual([4, 2]);
    expect(values(E.pad(x, [-1, 1]))).toEqual([1, 0, 3, 0]);
  });
});

describe('gradients through views', () => {
  test('a strided input gets the same gradient as its contiguous copy (P12)', () => {
    fc.assert(
      fc.property(permuteCase, ([x, o]) => {
        const order = values(o!);
        const w = iota(E.permute(x!, order).shape as number[]);
        const strided = x!.detach().requiresGrad_();
        const dense = x!.detach().requiresGrad_();
        E.sum(E.mul(E.exp(E.permute(strided, order)), w)).backward();
        E.sum(E.mul(E.exp(E.contiguous(E.permute(dense, order))), w)).backward();
        expect(values(strided.grad!)).toEqual(values(dense.grad!));
      }),
    );
  });

  test('narrow scatters its gradient back into zeros; expand sums over the copies', () => {
    const x = E.fromArray([1, 2, 3, 4], [4], { dtype: 'float64', requiresGrad: true });
    E.sum(E.mul(E.narrow(x, 0, 1, 2), f64([10, 20]))).backward();
    expect(values(x.grad!)).toEqual([0, 10, 20, 0]);
    const y = E.fromArray([1, 2], [2, 1], { dtype: 'float64', requiresGrad: true });
    E.sum(E.mul(E.expand(y, [3, 2, 3]), iota([3, 2, 3]))).backward();
    expect(values(y.grad!)).toEqual([0 + 1 + 2 + 6 + 7 + 8 + 12 + 13 + 14, 3 + 4 + 5 + 9 + 10 + 11 + 15 + 16 + 17]);
  });
});
