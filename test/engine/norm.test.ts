import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import * as E from '../../engine/index.js';
import type { Tensor } from '../../engine/index.js';
import { fromArray } from '../../engine/index.js';
import { numel } from '../../engine/shape.js';
import { type Shape, distinctValuesArb, shapeArb, tensorArb, valuesArb } from '../helpers/arbitraries.js';
import { opProperty } from '../helpers/props.js';
import { expectClose, expectOpError } from '../helpers/expect.js';

/* ---------------------------------------------------------------- plain-JS references */

/** Standardises each consecutive block of `blockLen` values (biased variance), then applies `affine(value, flat index)`. */
function standardizeBlocks(x: ArrayLike<number>, blockLen: number, eps: number, affine: (v: number, i: number) => number = (v) => v): number[] {
  const out: number[] = [];
  for (let start = 0; start < x.length; start += blockLen) {
    const block = Array.from(x).slice(start, start + blockLen);
    const mu = block.reduce((a, v) => a + v, 0) / blockLen;
    const variance = block.reduce((a, v) => a + (v - mu) ** 2, 0) / blockLen;
    block.forEach((v, j) => out.push(affine((v - mu) / Math.sqrt(variance + eps), start + j)));
  }
  return out;
}

function layerNormRef(x: ArrayLike<number>, rowLen: number, w?: ArrayLike<number>, b?: ArrayLike<number>, eps = 1e-5): number[] {
  return standardizeBlocks(x, rowLen, eps, (v, i) => v * (w ? w[i % rowLen]! : 1) + (b ? b[i % rowLen]! : 0));
}

function groupNormRef(x: ArrayLike<number>, shape: Shape, groups: number, w?: ArrayLike<number>, b?: ArrayLike<number>, eps = 1e-5): number[] {
  const channels = shape[1]!;
  const spatial = numel(shape.slice(2));
  return standardizeBlocks(x, (channels / groups) * spatial, eps, (v, i) => {
    const c = Math.floor(i / spatial) % channels;
    return v * (w ? w[c]! : 1) + (b ? b[c]! : 0);
  });
}

function rmsNormRef(x: ArrayLike<number>, rowLen: number, w: ArrayLike<number> | undefined, eps: number): number[] {
  const out: number[] = [];
  for (let start = 0; start < x.length; start += rowLen) {
    const row = Array.from(x).slice(start, start + rowLen);
    const rms = Math.sqrt(row.reduce((a, v) => a + v * v, 0) / rowLen + eps);
    row.forEach((v, j) => out.push((v / rms) * (w ? w[j]! : 1)));
  }
  return out;
}

const f64 = (values: number[], shape: Shape) => fromArray(values, shape, { dtype: 'float64' });
const leaf = (t: Tensor) => t.detach().requiresGrad_();

/* ---------------------------------------------------------------- generators */

/**
 * Distinct multiples of 1/2 in [−8, 8]: every normalised group of two or more values then has a standard deviation
 * of at least 1/4. Nearly equal values are legitimate inputs, but there the Jacobian (∝ 1/σ) comes out of a
 * cancellation that float32 cannot resolve to gradcheck's absolute tolerance, and the curvature (∝ 1/σ³) outgrows
 * what central differences can resolve.
 */
const spreadArb = (shape: Shape) => distinctValuesArb(numel(shape), { min: -8, max: 8, bits: 1 }).map((v) => fromArray(v, shape, { dtype: 'float64' }));

/** x of rank 1–4 and the number k of trailing dims to normalise. */
const trailingCaseArb = shapeArb({ minRank: 1, maxRank: 4, maxNumel: 24 }).chain((shape) => fc.tuple(fc.constant(shape), fc.integer({ min: 1, max: shape.length })));

/**
 * The property tests normalise groups of at least 3 values (layer and group norm) or 2 (rms norm). With fewer, the
 * output hardly depends on x (one value standardises to 0, two to about ±1), so the exact gradient is about 0 and
 * comes out of a difference of O(1/σ) terms: right, but made of rounding, which the hygiene check's linearity
 * tolerance (relative to the gradient itself) cannot allow for. Those sizes have their own tests.
 */
const MIN_GROUP = 3;
const MIN_RMS_ROW = 2;

/** Affine parameters of `shape`, scales kept away from 0 so that they do not hide an error in the normalised part. */
const weightArb = (shape: Shape) => tensorArb(shape, { min: -2, max: 2, avoid: [0], avoidRadius: 1 / 4 });

/** x: [N, C, spatial...] with C having several divisors. */
const groupShapeArb: fc.Arbitrary<Shape> = fc
  .tuple(fc.integer({ min: 1, max: 2 }), fc.constantFrom(1, 2, 3, 4, 6), fc.array(fc.integer({ min: 1, max: 3 }), { maxLength: 2 }))
  .map(([n, c, spatial]) => [n, c, ...spatial])
  .filter((s) => numel(s) <= 24);

/** A tensor of `shape`, or no tensor (an absent weight or bias). */
const optionalArb = (shape: Shape) => fc.option(tensorArb(shape), { nil: undefined });

const divisors = (n: number) => Array.from({ length: n }, (_, i) => i + 1).filter((g) => n % g === 0);

/** Groups of several channels where C allows it (C = 4 → 2 groups, C = 6 → 3); the reference test covers every grouping. */
const severalChannelsPerGroup = (channels: number) => divisors(channels).filter((g) => g < channels).pop() ?? 1;

/** Rows whose values are not all equal (so eps = 0 is safe). */
function spreadRows(x: Tensor, rowLen: number): boolean {
  const v = x.toArraySync();
  for (let start = 0; start < v.length; start += rowLen) {
    if (v.slice(start, start + rowLen).every((e) => e === v[start])) return false;
  }
  return true;
}

/* ---------------------------------------------------------------- layer_norm */

describe('layer_norm', () => {
  describe('with weight and bias', () => {
    opProperty('layer_norm', {
      inputs: trailingCaseArb
        .filter(([shape, k]) => numel(shape.slice(-k)) >= MIN_GROUP)
        .chain(([shape, k]) => fc.tuple(spreadArb(shape), weightArb(shape.slice(-k)), tensorArb(shape.slice(-k)))),
      fn: (x, w, b) => E.layerNorm(x!, w!.shape, w, b),
    });
  });

  describe('without affine, over the last dim and over all but the first', () => {
    opProperty('layer_norm', {
      inputs: shapeArb({ minRank: 1, maxRank: 3, maxSide: 4, maxNumel: 24 })
        .filter((s) => s[s.length - 1]! >= MIN_GROUP)
        .chain((s) => spreadArb(s))
        .map((x) => [x]),
      fn: (x) => [E.layerNorm(x!, x!.shape.slice(-1)), E.layerNorm(x!, x!.shape.slice(Math.min(1, x!.rank - 1)))],
    });
  });

  test('forward matches the plain-JS reference (weight only, bias only, both, neither)', () => {
    fc.assert(
      fc.property(
        trailingCaseArb.chain(([shape, k]) => fc.tuple(tensorArb(shape), optionalArb(shape.slice(-k)), optionalArb(shape.slice(-k)), fc.constant(shape.slice(-k)))),
        fc.double({ min: 1e-6, max: 1, noNaN: true }),
        ([x, w, b, ns], eps) => {
          const expected = layerNormRef(x.toArraySync(), numel(ns), w?.toArraySync(), b?.toArraySync(), eps);
          expectClose(E.layerNorm(x, ns, w, b, eps).toArraySync(), expected);
        },
      ),
    );
  });

  test('groups of one value give the bias with a zero gradient; groups of two pass gradcheck', () => {
    const x = leaf(f64([0.5, -1.5], [2, 1]));
    const y = E.layerNorm(x, [1], f64([3], [1]), f64([0.25], [1]));
    expect(Array.from(y.toArraySync())).toEqual([0.25, 0.25]);
    const [g] = E.grad(y, x, [f64([1, -2], [2, 1])]);
    expect(Array.from(g!.toArraySync(), Math.abs)).toEqual([0, 0]);
    const pairs = [f64([0.5, -1.5, 2, 2.25], [2, 2]), f64([3, -1], [2]), f64([0.25, 0], [2])];
    E.assertGradcheck((x, w, b) => E.layerNorm(x!, [2], w, b), pairs);
    E.assertGradgradcheck((x, w, b) => E.layerNorm(x!, [2], w, b), pairs);
  });

  test('a number as normalizedShape means the last dim', () => {
    const x = f64([1, 2, 4, 8, 0, -1], [2, 3]);
    expectClose(E.layerNorm(x, 3).toArraySync(), layerNormRef(x.toArraySync(), 3));
  });

  test('with eps = 0 the output has mean 0 and biased variance 1 over the normalised dims', () => {
    fc.assert(
      fc.property(
        trailingCaseArb.chain(([shape, k]) => fc.tuple(fc.constant(shape.slice(-k)), tensorArb(shape))).filter(([ns, x]) => numel(ns) > 1 && spreadRows(x, numel(ns))),
        ([ns, x]) => {
          const dims = ns.map((_, i) => x.rank - ns.length + i);
          const y = E.layerNorm(x, ns, undefined, undefined, 0);
          expectClose(E.mean(y, dims).toArraySync(), new Array(x.size / numel(ns)).fill(0));
          expectClose(E.variance(y, dims, { correction: 0 }).toArraySync(), new Array(x.size / numel(ns)).fill(1));
        },
      ),
    );
  });

  test('the input gradient is orthogonal to 1 (any eps) and, with eps = 0, to x̂', () => {
    fc.assert(
      fc.property(
        trailingCaseArb
          .chain(([shape, k]) => fc.tuple(fc.constant(shape.slice(-k)), tensorArb(shape), tensorArb(shape)))
          .filter(([ns, x]) => spreadRows(x, numel(ns))),
        ([ns, x0, v]) => {
          const dims = ns.map((_, i) => x0.rank - ns.length + i);
          const rows = x0.size / numel(ns);
          for (const eps of [1e-5, 0]) {
            const x = x0.detach().requiresGrad_();
            const xHat = E.layerNorm(x, ns, undefined, undefined, eps);
            const [g] = E.grad(xHat, x, [v]);
            expectClose(E.sum(g!, dims).toArraySync(), new Array(rows).fill(0));
            if (eps === 0) expectClose(E.sum(E.mul(g!, xHat.detach()), dims).toArraySync(), new Array(rows).fill(0));
          }
        },
      ),
    );
  });

  test('bad inputs throw OpInputError naming the op and the shapes', () => {
    const x = E.zeros([2, 3], { dtype: 'float64' });
    expectOpError(() => E.layerNorm(x, []), 'layer_norm', 'at least one dim', '[2,3]');
    expectOpError(() => E.layerNorm(x, [2]), 'layer_norm', 'normalizedShape [2]', '[2,3]');
    expectOpError(() => E.layerNorm(x, [1, 2, 3]), 'layer_norm', 'normalizedShape [1,2,3]', '[2,3]');
    expectOpError(() => E.layerNorm(x, [3], E.ones([2], { dtype: 'float64' })), 'layer_norm', 'weight has shape [2], expected [3]', '[2,3], [2]');
    expectOpError(() => E.layerNorm(x, [3], undefined, E.ones([3, 1], { dtype: 'float64' })), 'layer_norm', 'bias has shape [3,1]');
    expectOpError(() => E.layerNorm(x, [3], E.ones([3])), 'layer_norm', 'dtypes differ', '[2,3], [3]');
    expectOpError(() => E.layerNorm(E.zeros([2, 3], { dtype: 'int32' }), [3]), 'layer_norm', 'float', '[2,3]');
    expectOpError(() => E.layerNorm(x, [3], undefined, undefined, -1), 'layer_norm', 'eps');
  });
});

/* ---------------------------------------------------------------- group_norm */

describe('group_norm', () => {
  opProperty('group_norm', {
    inputs: groupShapeArb
      .filter((shape) => numel(shape.slice(1)) / severalChannelsPerGroup(shape[1]!) >= MIN_GROUP)
      .chain((shape) => fc.tuple(spreadArb(shape), weightArb([shape[1]!]), tensorArb([shape[1]!]))),
    fn: (x, w, b) => E.groupNorm(x!, severalChannelsPerGroup(x!.shape[1]!), w, b),
  });

  test('forward matches the plain-JS reference', () => {
    fc.assert(
      fc.property(
        groupShapeArb.chain((shape) => fc.tuple(tensorArb(shape), optionalArb([shape[1]!]), optionalArb([shape[1]!]), fc.constantFrom(...divisors(shape[1]!)))),
        ([x, w, b, groups]) => {
          const expected = groupNormRef(x.toArraySync(), [...x.shape], groups, w?.toArraySync(), b?.toArraySync());
          expectClose(E.groupNorm(x, groups, w, b).toArraySync(), expected);
        },
      ),
    );
  });

  test('groups of one or two values pass gradcheck', () => {
    const x = f64([0.5, -1.5, 2, 2.25], [1, 4]);
    const [w, b] = [f64([3, -1, 1, 2], [4]), f64([0.25, 0, 1, -1], [4])];
    expect(Array.from(E.groupNorm(x, 4, w, b).toArraySync())).toEqual(Array.from(b.toArraySync()));
    for (const groups of [4, 2]) {
      E.assertGradcheck((x, w, b) => E.groupNorm(x!, groups, w, b), [x, w, b]);
      E.assertGradgradcheck((x, w, b) => E.groupNorm(x!, groups, w, b), [x, w, b]);
    }
  });

  test('one group is layer_norm over all but the batch dim; C groups is instance norm', () => {
    fc.assert(
      fc.property(groupShapeArb.chain((s) => tensorArb(s)), (x) => {
        expectClose(E.groupNorm(x, 1).toArraySync(), E.layerNorm(x, x.shape.slice(1)).toArraySync());
        const [n, c] = x.shape as [number, number];
        const perChannel = E.reshape(x, [n, c, x.size / (n * c)]);
        expectClose(E.groupNorm(x, c).toArraySync(), E.layerNorm(perChannel, [x.size / (n * c)]).toArraySync());
      }),
    );
  });

  test('bad inputs throw OpInputError naming the op and the shapes', () => {
    const x = E.zeros([2, 6, 2], { dtype: 'float64' });
    expectOpError(() => E.groupNorm(E.zeros([6], { dtype: 'float64' }), 2), 'group_norm', 'rank 1', '[6]');
    expectOpError(() => E.groupNorm(x, 4), 'group_norm', '6 channels', '4 groups', '[2,6,2]');
    expectOpError(() => E.groupNorm(x, 0), 'group_norm', '0 groups');
    expectOpError(() => E.groupNorm(x, 1.5), 'group_norm', '1.5 groups');
    expectOpError(() => E.groupNorm(x, 3, E.ones([3], { dtype: 'float64' })), 'group_norm', 'weight has shape [3], expected [6]', '[2,6,2], [3]');
    expectOpError(() => E.groupNorm(x, 3, undefined, E.ones([6, 1], { dtype: 'float64' })), 'group_norm', 'bias has shape [6,1]');
    expectOpError(() => E.groupNorm(E.zeros([2, 6], { dtype: 'int32' }), 3), 'group_norm', 'float');
  });
});

/* ---------------------------------------------------------------- rms_norm */

describe('rms_norm', () => {
  // Values away from 0 keep every row's root mean square well above eps, where the op is smooth at FD scale.
  const awayFromZero = { avoid: [0], avoidRadius: 1 / 8 };
  opProperty('rms_norm', {
    inputs: trailingCaseArb
      .filter(([shape]) => shape[shape.length - 1]! >= MIN_RMS_ROW)
      .chain(([shape, k]) => fc.tuple(tensorArb(shape, awayFromZero), weightArb(shape.slice(-k)))),
    // eps given explicitly: the default differs between f32 and f64.
    fn: (x, w) => [E.rmsNorm(x!, w!.shape, w, 1e-6), E.rmsNorm(x!, w!.shape.slice(-1), undefined, 1e-6)],
  });

  test('forward matches the plain-JS reference', () => {
    fc.assert(
      fc.property(
        trailingCaseArb.chain(([shape, k]) => fc.tuple(tensorArb(shape), optionalArb(shape.slice(-k)), fc.constant(shape.slice(-k)))),
        fc.double({ min: 1e-6, max: 1, noNaN: true }),
        ([x, w, ns], eps) => {
          expectClose(E.rmsNorm(x, ns, w, eps).toArraySync(), rmsNormRef(x.toArraySync(), numel(ns), w?.toArraySync(), eps));
        },
      ),
    );
  });

  test('a row of one value gives about ±weight, and passes gradcheck', () => {
    const x = f64([0.5, -1.5], [2, 1]);
    const w = f64([3], [1]);
    expectClose(E.rmsNorm(x, [1], w, 1e-6).toArraySync(), [3 * 0.5 / Math.sqrt(0.25 + 1e-6), -3 * 1.5 / Math.sqrt(2.25 + 1e-6)]);
    E.assertGradcheck((x, w) => E.rmsNorm(x!, [1], w, 1e-6), [x, w]);
    E.assertGradgradcheck((x, w) => E.rmsNorm(x!, [1], w, 1e-6), [x, w]);
  });

  test("eps defaults to the dtype's machine epsilon (torch.finfo(dtype).eps)", () => {
    // A tiny row, where eps is not negligible: x / sqrt(x² + eps).
    const tiny = 2 ** -30;
    expect(E.rmsNorm(f64([tiny], [1]), [1]).itemSync()).toBe(tiny / Math.sqrt(tiny * tiny + 2 ** -52));
    const tiny32 = 2 ** -14;
    expect(E.rmsNorm(fromArray([tiny32], [1]), [1]).itemSync()).toBeCloseTo(tiny32 / Math.sqrt(tiny32 * tiny32 + 2 ** -23), 6);
  });

  test('with eps = 0 the output has mean square 1 and is invariant to positive scaling', () => {
    fc.assert(
      fc.property(trailingCaseArb.chain(([shape, k]) => fc.tuple(fc.constant(shape.slice(-k)), tensorArb(shape, awayFromZero), valuesArb(1, { min: 1 / 8, max: 4 }))), ([ns, x, [alpha]]) => {
        const dims = ns.map((_, i) => x.rank - ns.length + i);
        const y = E.rmsNorm(x, ns, undefined, 0);
        expectClose(E.mean(E.mul(y, y), dims).toArraySync(), new Array(x.size / numel(ns)).fill(1));
        expectClose(E.rmsNorm(E.mul(x, alpha!), ns, undefined, 0).toArraySync(), y.toArraySync());
      }),
    );
  });

  test('bad inputs throw OpInputError naming the op and the shapes', () => {
    const x = E.zeros([2, 3], { dtype: 'float64' });
    expectOpError(() => E.rmsNorm(x, [2]), 'rms_norm', 'normalizedShape [2]', '[2,3]');
    expectOpError(() => E.rmsNorm(x, []), 'rms_norm', 'at least one dim');
    expectOpError(() => E.rmsNorm(x, [3], E.ones([2, 3], { dtype: 'float64' })), 'rms_norm', 'weight has shape [2,3], expected [3]', '[2,3], [2,3]');
    expectOpError(() => E.rmsNorm(E.zeros([3], { dtype: 'int32' }), [3]), 'rms_norm', 'float', '[3]');
  });
});
