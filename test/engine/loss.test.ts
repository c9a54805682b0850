import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import * as E from '../../engine/index.js';
import type { Tensor } from '../../engine/index.js';
import { fromArray } from '../../engine/index.js';
import { numel } from '../../engine/shape.js';
import { type Shape, broadcastPairArb, shapeArb, tensorArb } from '../helpers/arbitraries.js';
import { opProperty } from '../helpers/props.js';
import { expectClose, expectOpError } from '../helpers/expect.js';

/* ---------------------------------------------------------------- helpers */

const f64 = (values: number[], shape: Shape) => fromArray(values, shape, { dtype: 'float64' });
const i32 = (values: number[], shape: Shape) => fromArray(values, shape, { dtype: 'int32' });
const leaf = (t: Tensor) => t.detach().requiresGrad_();

const sumOf = (v: readonly number[]) => v.reduce((a, b) => a + b, 0);

/** Each way of reducing, so that one property test checks all three. */
function allReductions(loss: (reduction: 'none' | 'sum' | 'mean') => Tensor): Tensor[] {
  return [loss('none'), loss('sum'), loss('mean')];
}

/** Values away from 0, so that no vector along a dim is near the zero vector (where its direction is undefined). */
const awayFromZero = { avoid: [0], avoidRadius: 1 / 8 };

/**
 * The property tests of normalize and cosine_similarity use vectors of at least 2 values. A single value
 * normalises to ±1 whatever it is, so the exact gradient is 0 and comes out as rounding (x/|x| − x·x/|x|³), which
 * the hygiene check's linearity tolerance (relative to the gradient itself) cannot allow for; that size has its
 * own test.
 */
const MIN_VECTOR = 2;

/* ---------------------------------------------------------------- mse_loss, l1_loss */

const samePairArb = shapeArb({ maxNumel: 24 }).chain((s) => fc.tuple(tensorArb(s), tensorArb(s)));

describe('mse_loss', () => {
  opProperty('mse_loss', {
    inputs: samePairArb,
    fn: (a, b) => allReductions((r) => E.mseLoss(a!, b!, r)),
  });

  test('forward matches the plain-JS reference', () => {
    fc.assert(
      fc.property(samePairArb, ([a, b]) => {
        const d = Array.from(a.toArraySync(), (v, i) => (v - b.toArraySync()[i]!) ** 2);
        expectClose(E.mseLoss(a, b, 'none').toArraySync(), d);
        expectClose([E.mseLoss(a, b, 'sum').itemSync()], [sumOf(d)]);
        expectClose([E.mseLoss(a, b).itemSync()], [sumOf(d) / d.length]);
      }),
    );
  });

  test('the gradient of the mean is 2(input − target)/n for the input and its negation for the target', () => {
    const a = leaf(f64([1, -2, 0.5, 3], [2, 2]));
    const b = leaf(f64([0, 1, 0.5, -1], [2, 2]));
    const [ga, gb] = E.grad(E.mseLoss(a, b), [a, b]);
    expectClose(ga!.toArraySync(), [0.5, -1.5, 0, 2]);
    expectClose(gb!.toArraySync(), [-0.5, 1.5, 0, -2]);
  });
});

describe('l1_loss', () => {
  opProperty('l1_loss', {
    // Dyadic values that differ differ by at least 1/64, far beyond the FD step: only exact ties sit on the kink.
    inputs: samePairArb.filter(([a, b]) => a.toArraySync().every((v, i) => v !== b.toArraySync()[i])),
    fn: (a, b) => allReductions((r) => E.l1Loss(a!, b!, r)),
  });

  test('forward matches the plain-JS reference', () => {
    fc.assert(
      fc.property(samePairArb, ([a, b]) => {
        const d = Array.from(a.toArraySync(), (v, i) => Math.abs(v - b.toArraySync()[i]!));
        expectClose(E.l1Loss(a, b, 'none').toArraySync(), d);
        expectClose([E.l1Loss(a, b, 'sum').itemSync()], [sumOf(d)]);
        expectClose([E.l1Loss(a, b).itemSync()], [sumOf(d) / d.length]);
      }),
    );
  });

  test('at input = target the gradient is exactly 0 (PyTorch: sign(0) = 0); elsewhere ±1/n', () => {
    const a = leaf(f64([1, 2, 3, 4], [4]));
    const b = leaf(f64([1, 0, 3, 5], [4]));
    const [ga, gb] = E.grad(E.l1Loss(a, b), [a, b]);
    // ±0 alike: the target's gradient is the negated input gradient, so its zeros are −0.
    const values = (t: Tensor) => Array.from(t.toArraySync(), (v) => (v === 0 ? 0 : v));
    expect(values(ga!)).toEqual([0, 0.25, 0, -0.25]);
    expect(values(gb!)).toEqual([0, -0.25, 0, 0.25]);
  });

  test('bad inputs throw OpInputError naming the op and the shapes', () => {
    const a = E.zeros([2, 3], { dtype: 'float64' });
    for (const [name, loss] of [['mse_loss', E.mseLoss], ['l1_loss', E.l1Loss]] as const) {
      expectOpError(() => loss(a, E.zeros([3], { dtype: 'float64' })), name, 'same shape', '[2,3], [3]');
      expectOpError(() => loss(a, E.zeros([2, 1], { dtype: 'float64' })), name, 'same shape', '[2,3], [2,1]');
      expectOpError(() => loss(a, E.zeros([2, 3])), name, 'dtypes differ', '[2,3], [2,3]');
      expectOpError(() => loss(E.zeros([2], { dtype: 'int32' }), E.zeros([2], { dtype: 'int32' })), name, 'float', '[2]');
      expectOpError(() => loss(a, a, 'avg' as 'mean'), name, "reduction must be 'mean', 'sum' or 'none'", '[2,3]');
    }
  });
});

/* ---------------------------------------------------------------- cross_entropy */

interface CeCase {
  logits: Tensor;
  target: Tensor;
}

/** Logits [C], [N, C] or [N, C, d] with class indices, some of them -100 (ignored by default). */
const ceCaseArb: fc.Arbitrary<CeCase> = fc
  .tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 4 }), fc.constantFrom('single', 'batch', 'spatial'), fc.integer({ min: 1, max: 2 }))
  .chain(([n, c, layout, d]) => {
    const logitShape = layout === 'single' ? [c] : layout === 'batch' ? [n, c] : [n, c, d];
    const targetShape = logitShape.filter((_, i) => i !== (layout === 'single' ? 0 : 1));
    const classArb = fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 0, max: c - 1 }) }, { weight: 1, arbitrary: fc.constant(-100) });
    return fc.record({
      logits: tensorArb(logitShape),
      target: fc.array(classArb, { minLength: numel(targetShape), maxLength: numel(targetShape) }).map((t) => i32(t, targetShape)),
    });
  });

/** At least one target that counts, so that the mean is defined. */
const countedArb = ceCaseArb.filter(({ target }) => target.toArraySync().some((t) => t !== -100));

/** PyTorch's definition, row by row: logits as rows of C values (classes last) and one target per row. */
function crossEntropyRef(rows: number[][], targets: number[], reduction: 'none' | 'sum' | 'mean', labelSmoothing = 0, ignoreIndex = -100): number[] {
  const perRow = rows.map((row, i) => {
    if (targets[i] === ignoreIndex) return 0;
    const m = Math.max(...row);
    const lse = m + Math.log(sumOf(row.map((v) => Math.exp(v - m))));
    const logp = row.map((v) => v - lse);
    return (1 - labelSmoothing) * -logp[targets[i]!]! + labelSmoothing * -sumOf(logp) / row.length;
  });
  if (reduction === 'none') return perRow;
  const total = sumOf(perRow);
  return [reduction === 'sum' ? total : total / targets.filter((t) => t !== ignoreIndex).length];
}

/** Rows of class scores (one per target element, classes last), in the target's row-major order. */
function rowsOf({ logits, target }: CeCase): { rows: number[][]; targets: number[] } {
  const classesLast = logits.rank === 1 ? E.unsqueeze(logits, 0) : logits.rank === 2 ? logits : E.permute(logits, [0, 2, 1]);
  const c = classesLast.shape[classesLast.rank - 1]!;
  const flat = Array.from(E.contiguous(classesLast).toArraySync());
  return { rows: Array.from({ length: flat.length / c }, (_, i) => flat.slice(i * c, (i + 1) * c)), targets: Array.from(target.toArraySync()) };
}

/** The same targets with the ignored ones (-100) marked by `ignoreIndex` instead. */
function markIgnored(target: Tensor, ignoreIndex: number): Tensor {
  return i32(Array.from(target.toArraySync(), (t) => (t === -100 ? ignoreIndex : t)), [...target.shape]);
}

describe('cross_entropy', () => {
  opProperty('cross_entropy', {
    inputs: countedArb.map(({ logits, target }) => [logits, target]),
    fn: (logits, target) => [
      E.crossEntropy(logits!, target!, { reduction: 'none' }),
      E.crossEntropy(logits!, target!, { labelSmoothing: 0.25 }),
      E.crossEntropy(logits!, markIgnored(target!, 0), { reduction: 'sum', labelSmoothing: 0.1, ignoreIndex: 0 }),
    ],
    wrt: [0],
  });

  test('forward matches the plain-JS reference (reductions, label smoothing, ignoreIndex)', () => {
    fc.assert(
      fc.property(countedArb, fc.constantFrom(0, 0.1, 0.5, 1), fc.constantFrom(-100, 0), ({ logits, target: marked }, labelSmoothing, ignoreIndex) => {
        const ce = { logits, target: markIgnored(marked, ignoreIndex) };
        const { rows, targets } = rowsOf(ce);
        for (const reduction of ['none', 'sum', 'mean'] as const) {
          if (reduction === 'mean' && targets.every((t) => t === ignoreIndex)) continue;
          const actual = E.crossEntropy(ce.logits, ce.target, { reduction, labelSmoothing, ignoreIndex }).toArraySync();
          expectClose(actual, crossEntropyRef(rows, targets, reduction, labelSmoothing, ignoreIndex));
        }
      }),
    );
  });

  test('per element it is −log_softmax at the target, and adding a constant per sample changes neither loss nor gradient', () => {
    fc.assert(
      fc.property(
        countedArb.chain((ce) => fc.tuple(fc.constant(ce), tensorArb(ce.logits.shape.map((s, d) => (d === (ce.logits.rank === 1 ? 0 : 1) ? 1 : s)), { min: -8, max: 8 }))),
        ([{ logits, target }, shift]) => {
        const classDim = logits.rank === 1 ? 0 : 1;
        const loss = E.crossEntropy(logits, target, { reduction: 'none' }).toArraySync();
        const logp = E.logSoftmax(logits, classDim);
        const picked = rowsOf({ logits: logp, target }).rows.map((row, i) => (target.toArraySync()[i] === -100 ? 0 : -row[target.toArraySync()[i]!]!));
        expectClose(loss, picked);

        // A constant per sample (and position), broadcast over the classes.
        const x = leaf(logits);
        const y = leaf(E.add(logits, shift));
        const [gx] = E.grad(E.crossEntropy(x, target), x);
        const [gy] = E.grad(E.crossEntropy(y, target), y);
        expectClose(E.crossEntropy(y, target, { reduction: 'none' }).toArraySync(), loss);
        expectClose(gy!.toArraySync(), gx!.toArraySync());
        },
      ),
    );
  });

  test('the gradient of the mean is (softmax − one-hot)/N, and exactly 0 on ignored samples', () => {
    const logits = leaf(f64([1, 2, 3, 0, 0, 0, -1, 5, 2], [3, 3]));
    const target = i32([2, -100, 0], [3]);
    const [g] = E.grad(E.crossEntropy(logits, target), logits);
    const p = E.softmax(logits.detach(), 1).toArraySync();
    const expected = Array.from(p, (v, i) => {
      const [row, col] = [Math.floor(i / 3), i % 3];
      if (row === 1) return 0;
      return (v - (col === target.toArraySync()[row] ? 1 : 0)) / 2;
    });
    expectClose(g!.toArraySync(), expected);
    expect(Array.from(g!.toArraySync().slice(3, 6))).toEqual([0, 0, 0]);
  });

  test('an ignoreIndex inside [0, C) drops those samples (also from the mean), and all-ignored gives NaN, as PyTorch', () => {
    const logits = f64([1, 2, 0.5, -1], [2, 2]);
    const target = i32([0, 1], [2]);
    const kept = E.crossEntropy(E.narrow(logits, 0, 1, 1), E.narrow(target, 0, 1, 1)).itemSync();
    expectClose([E.crossEntropy(logits, target, { ignoreIndex: 0 }).itemSync()], [kept]);
    expectClose(E.crossEntropy(logits, target, { ignoreIndex: 0, reduction: 'none' }).toArraySync(), [0, kept]);
    expect(E.crossEntropy(logits, i32([-100, -100], [2])).itemSync()).toBeNaN();
    expect(E.crossEntropy(logits, i32([-100, -100], [2]), { reduction: 'sum' }).itemSync()).toBe(0);
  });

  test('label smoothing 1 is the cross-entropy against the uniform distribution; −∞ logits off the target stay finite', () => {
    const logits = f64([0, Math.log(2), Math.log(5)], [1, 3]);
    const uniform = -(0 + Math.log(2) + Math.log(5) - 3 * Math.log(8)) / 3;
    expectClose([E.crossEntropy(logits, i32([1], [1]), { labelSmoothing: 1 }).itemSync()], [uniform]);
    const masked = leaf(f64([0, -Infinity, 1], [1, 3]));
    const loss = E.crossEntropy(masked, i32([2], [1]));
    expectClose([loss.itemSync()], [Math.log(1 + Math.exp(-1))]);
    const [g] = E.grad(loss, masked);
    expect(Array.from(g!.toArraySync()).every(Number.isFinite)).toBe(true);
  });

  test('one sample as [C] with a 0-d target equals the batched form', () => {
    const logits = f64([0.5, -1, 2, 0], [4]);
    const single = E.crossEntropy(logits, i32([2], []), { reduction: 'none' });
    expect(single.shape).toEqual([]);
    expectClose([single.itemSync()], [E.crossEntropy(E.unsqueeze(logits, 0), i32([2], [1])).itemSync()]);
  });

  test('bad inputs throw OpInputError naming the op and the shapes', () => {
    const logits = E.zeros([2, 3], { dtype: 'float64' });
    expectOpError(() => E.crossEntropy(logits, E.zeros([2], { dtype: 'float64' })), 'cross_entropy', 'int32 class indices', '[2,3], [2]');
    expectOpError(() => E.crossEntropy(logits, i32([0, 1, 2], [3])), 'cross_entropy', 'expected [2]', '[2,3], [3]');
    expectOpError(() => E.crossEntropy(E.zeros([2, 3, 4], { dtype: 'float64' }), i32([0, 1], [2])), 'cross_entropy', 'expected [2,4]', '[2,3,4], [2]');
    expectOpError(() => E.crossEntropy(E.zeros([], { dtype: 'float64' }), i32([0], [])), 'cross_entropy', '0-d', '[]');
    expectOpError(() => E.crossEntropy(logits, i32([0, 3], [2])), 'cross_entropy', 'class 3 is out of range for 3 classes', '[2,3], [2]');
    expectOpError(() => E.crossEntropy(logits, i32([-1, 0], [2])), 'cross_entropy', 'class -1');
    expectOpError(() => E.crossEntropy(logits, i32([0, 1], [2]), { labelSmoothing: 1.5 }), 'cross_entropy', 'labelSmoothing');
    expectOpError(() => E.crossEntropy(logits, i32([0, 1], [2]), { ignoreIndex: 0.5 }), 'cross_entropy', 'ignoreIndex');
    expectOpError(() => E.crossEntropy(logits, i32([0, 1], [2]), { reduction: 'max' as 'sum' }), 'cross_entropy', 'reduction');
    expectOpError(() => E.crossEntropy(E.zeros([2, 3], { dtype: 'int32' }), i32([0, 1], [2])), 'cross_entropy', 'float');
  });
});

/* ---------------------------------------------------------------- normalize */

function normRef(v: number[], p: number): number {
  if (p === Infinity) return Math.max(...v.map(Math.abs));
  return sumOf(v.map((e) => Math.abs(e) ** p)) ** (1 / p);
}

/** Applies `f` to every 1-D fibre of `x` along `dim` (a plain-JS loop over the flat array). */
function alongDim(x: Tensor, dim: number, f: (fibre: number[]) => number[]): number[] {
  const data = Array.from(x.toArraySync());
  const inner = numel(x.shape.slice(dim + 1));
  const size = x.shape[dim]!;
  const out = new Array<number>(data.length);
  for (let outer = 0; outer < data.length / (size * inner); outer++) {
    for (let i = 0; i < inner; i++) {
      const idx = Array.from({ length: size }, (_, k) => outer * size * inner + k * inner + i);
      f(idx.map((j) => data[j]!)).forEach((v, k) => (out[idx[k]!] = v));
    }
  }
  return out;
}

describe('normalize', () => {
  opProperty('normalize', {
    inputs: shapeArb({ minRank: 1, maxNumel: 16 })
      .filter((s) => s[0]! >= MIN_VECTOR && s[s.length - 1]! >= MIN_VECTOR)
      .chain((s) => tensorArb(s, awayFromZero))
      .map((x) => [x]),
    // The 2-norm, and the general p-norm path (p = 1 and ∞ have a test of their own).
    fn: (x) => [E.normalize(x!, { dim: -1 }), E.normalize(x!, { p: 3, dim: 0 })],
  });

  test('forward matches the plain-JS reference (p = 1, 2, 3, ∞; eps clamps small norms)', () => {
    fc.assert(
      fc.property(shapeArb({ minRank: 1, maxNumel: 24 }).chain((s) => fc.tuple(tensorArb(s), fc.nat(s.length - 1))), fc.constantFrom(1, 2, 3, Infinity), fc.constantFrom(1e-12, 0.5), ([x, dim], p, eps) => {
        const expected = alongDim(x, dim, (v) => v.map((e) => e / Math.max(normRef(v, p), eps)));
        expectClose(E.normalize(x, { p, dim, eps }).toArraySync(), expected);
      }),
    );
  });

  test('p = 1 and p = ∞ pass gradcheck (away from their kinks: zeros, and ties for the largest |x|)', () => {
    const x = f64([0.5, -1.5, 2, 0.25, -3, 1], [2, 3]);
    for (const p of [1, Infinity]) {
      E.assertGradcheck((x) => E.normalize(x!, { p }), [x]);
      E.assertGradgradcheck((x) => E.normalize(x!, { p }), [x]);
    }
  });

  test('a single value normalises to ±1 with a zero gradient, and passes gradcheck', () => {
    const x = f64([0.5, -1.5], [2, 1]);
    expect(Array.from(E.normalize(x).toArraySync())).toEqual([1, -1]);
    E.assertGradcheck((x) => E.normalize(x!), [x]);
    E.assertGradgradcheck((x) => E.normalize(x!), [x]);
  });

  test('defaults: p = 2 along dim 1; the result has unit norm', () => {
    const y = E.normalize(f64([3, 4, 0, 4, -3, 0], [1, 2, 3]));
    expectClose(y.toArraySync(), [0.6, 0.8, 0, 0.8, -0.6, 0]);
  });

  test('a zero vector maps to 0 with the finite gradient v/eps (no 0·∞)', () => {
    const x = leaf(f64([0, 0, 1, 2], [2, 2]));
    const v = f64([1, -2, 0, 0], [2, 2]);
    const [g] = E.grad(E.normalize(x, { eps: 0.5 }), x, [v]);
    expectClose(E.normalize(x, { eps: 0.5 }).toArraySync().slice(0, 2), [0, 0]);
    expectClose(g!.toArraySync().slice(0, 2), [2, -4]);
  });

  test('bad inputs throw OpInputError naming the op and the shapes', () => {
    expectOpError(() => E.normalize(E.zeros([3], { dtype: 'float64' })), 'normalize', 'dim 1 is out of range', '[3]');
    expectOpError(() => E.normalize(E.zeros([2, 3], { dtype: 'float64' }), { p: 0 }), 'normalize', 'p must be positive', '[2,3]');
    expectOpError(() => E.normalize(E.zeros([2, 3], { dtype: 'float64' }), { eps: -1 }), 'normalize', 'eps');
    expectOpError(() => E.normalize(E.zeros([2, 3], { dtype: 'int32' })), 'normalize', 'float', '[2,3]');
    expectOpError(() => E.normalize(E.zeros([], { dtype: 'float64' }), { dim: 0 }), 'normalize', 'at least one dim', '[]');
  });
});

/* ---------------------------------------------------------------- cosine_similarity */

describe('cosine_similarity', () => {
  opProperty('cosine_similarity', {
    // Broadcasting along the other dims; not along the compared one (that repeats one value, see MIN_VECTOR).
    inputs: broadcastPairArb({ minRank: 1, maxNumel: 16 })
      .filter(([a, b]) => [a, b].every((s) => s.length >= 1 && s[s.length - 1]! >= MIN_VECTOR))
      .chain(([a, b]) => fc.tuple(tensorArb(a, awayFromZero), tensorArb(b, awayFromZero))),
    fn: (a, b) => E.cosineSimilarity(a!, b!, -1),
  });

  test('forward matches the plain-JS reference, with broadcasting', () => {
    fc.assert(
      fc.property(broadcastPairArb({ minRank: 1, maxNumel: 24 }).chain(([a, b]) => fc.tuple(tensorArb(a), tensorArb(b))), ([a, b]) => {
        const shape = E.add(a, b).shape;
        const dim = shape.length - 1;
        const [x, y] = [E.contiguous(E.expand(a, shape)), E.contiguous(E.expand(b, shape))];
        const unitX = alongDim(x, dim, (v) => v.map((e) => e / Math.max(normRef(v, 2), 1e-8)));
        const unitY = alongDim(y, dim, (v) => v.map((e) => e / Math.max(normRef(v, 2), 1e-8)));
        const size = shape[dim]!;
        const expected = Array.from({ length: unitX.length / size }, (_, i) => sumOf(unitX.slice(i * size, (i + 1) * size).map((e, k) => e * unitY[i * size + k]!)));
        expectClose(E.cosineSimilarity(a, b, -1).toArraySync(), expected);
      }),
    );
  });

  test('cos(a, a) = 1, cos(a, −a) = −1, invariant to positive scaling, within [−1, 1]; zero vectors give 0', () => {
    fc.assert(
      fc.property(shapeArb({ minRank: 2, maxNumel: 24 }).chain((s) => fc.tuple(tensorArb(s, awayFromZero), tensorArb(s))), ([a, b]) => {
        const rows = a.size / a.shape[1]!;
        expectClose(E.cosineSimilarity(a, a).toArraySync(), new Array(rows).fill(1));
        expectClose(E.cosineSimilarity(a, E.neg(a)).toArraySync(), new Array(rows).fill(-1));
        expectClose(E.cosineSimilarity(E.mul(a, 4), E.mul(b, 0.25)).toArraySync(), E.cosineSimilarity(a, b).toArraySync());
        expect(Array.from(E.cosineSimilarity(a, b).toArraySync()).every((c) => Math.abs(c) <= 1)).toBe(true);
      }),
    );
    const zero = leaf(E.zeros([1, 3], { dtype: 'float64' }));
    const sim = E.cosineSimilarity(zero, f64([1, 2, 3], [1, 3]));
    expect(sim.toArraySync()[0]).toBe(0);
    const [g] = E.grad(E.sum(sim), zero);
    expectClose(g!.toArraySync(), [1e8 / Math.sqrt(14), 2e8 / Math.sqrt(14), 3e8 / Math.sqrt(14)]);
  });

  test('vectors of one value, or broadcast along the compared dim, pass gradcheck', () => {
    const cases = [
      [f64([0.5, -1.5], [2, 1]), f64([2, 0.25], [2, 1])],
      [f64([0.5, -1.5, 1], [1, 3]), f64([2, -1], [2, 1])],
    ];
    for (const inputs of cases) {
      E.assertGradcheck((a, b) => E.cosineSimilarity(a!, b!), inputs);
      E.assertGradgradcheck((a, b) => E.cosineSimilarity(a!, b!), inputs);
    }
  });

  test('bad inputs throw OpInputError naming the op and the shapes', () => {
    const a = E.zeros([2, 3], { dtype: 'float64' });
    expectOpError(() => E.cosineSimilarity(a, E.zeros([2, 4], { dtype: 'float64' })), 'cosine_similarity', 'broadcast', '[2,3]', '[2,4]');
    expectOpError(() => E.cosineSimilarity(a, a, 2), 'cosine_similarity', 'dim 2 is out of range', '[2,3]');
    expectOpError(() => E.cosineSimilarity(a, E.zeros([2, 3])), 'cosine_similarity', 'dtypes differ', '[2,3], [2,3]');
    expectOpError(() => E.cosineSimilarity(E.zeros([2], { dtype: 'int32' }), E.zeros([2], { dtype: 'int32' }), 0), 'cosine_similarity', 'float', '[2]');
    expectOpError(() => E.cosineSimilarity(a, a, 1, -1), 'cosine_similarity', 'eps');
  });
});
