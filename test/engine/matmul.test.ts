import { describe, expect, test } from 'vitest';
import fc from 'fast-check';
import * as E from '../../engine/index.js';
import type { Tensor } from '../../engine/index.js';
import { broadcastShapes, numel } from '../../engine/shape.js';
import { broadcastPairArb, tensorArb, valuesArb } from '../helpers/arbitraries.js';
import { opProperty } from '../helpers/props.js';
import { expectOpError } from '../helpers/expect.js';
import { dyadic } from '../helpers/reference.js';

/*
 * matmul and linear: gradients (opProperty), forward values against a triple loop, the 1-D rules of
 * torch.matmul, operands given as strided views, the single rounding of f32 results, and the error cases.
 * Values are dyadic (k/64), so every sum of products here is exact in float64 and comparisons can be exact.
 */

const f64 = (values: ArrayLike<number>, shape: readonly number[]): Tensor => E.fromArray(Array.from(values), shape, { dtype: 'float64' });
const list = (t: Tensor): number[] => Array.from(t.toArraySync());

/** The triple loop over broadcast batch dims: out[t, i, j] = Σ_p a[t, i, p]·b[t, p, j]. */
function naiveMatmul(a: number[], aShape: readonly number[], b: number[], bShape: readonly number[]): { shape: number[]; data: number[] } {
  const [m, k] = aShape.slice(-2) as [number, number];
  const n = bShape[bShape.length - 1]!;
  const batch = broadcastShapes('test', aShape.slice(0, -2), bShape.slice(0, -2));
  const flatIndex = (shape: readonly number[], idx: number[]) => {
    const lead = idx.length - shape.length;
    return shape.reduce((flat, s, d) => flat * s + (s === 1 ? 0 : idx[lead + d]!), 0);
  };
  const data: number[] = [];
  const idx = new Array<number>(batch.length).fill(0);
  for (let t = 0; t < numel(batch); t++) {
    const aAt = flatIndex(aShape.slice(0, -2), idx) * m * k;
    const bAt = flatIndex(bShape.slice(0, -2), idx) * k * n;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let p = 0; p < k; p++) s += a[aAt + i * k + p]! * b[bAt + p * n + j]!;
        data.push(s);
      }
    }
    for (let d = batch.length - 1; d >= 0 && ++idx[d]! === batch[d]; d--) idx[d] = 0;
  }
  return { shape: [...batch, m, n], data };
}

/** Operand shapes for torch.matmul: matrices with broadcast batch dims, or a 1-D vector on either side. */
const operandShapesArb = fc
  .tuple(
    broadcastPairArb({ maxRank: 2, maxSide: 2, maxNumel: 4 }),
    fc.integer({ min: 1, max: 3 }),
    fc.integer({ min: 1, max: 3 }),
    fc.integer({ min: 1, max: 3 }),
    fc.constantFrom('matrix', 'matrix', 'vector'),
    fc.constantFrom('matrix', 'matrix', 'vector'),
  )
  .map(([[batchA, batchB], m, k, n, aKind, bKind]) => [aKind === 'vector' ? [k] : [...batchA, m, k], bKind === 'vector' ? [k] : [...batchB, k, n]] as const);

describe('matmul', () => {
  opProperty('matmul', {
    inputs: operandShapesArb.chain(([a, b]) => fc.tuple(tensorArb(a), tensorArb(b))),
    fn: E.matmul,
  });

  test('equals the triple loop on random shapes with broadcast batch dims', () => {
    const caseArb = fc
      .tuple(broadcastPairArb({ maxRank: 3, maxSide: 3, maxNumel: 12 }), fc.integer({ min: 1, max: 13 }), fc.integer({ min: 1, max: 13 }), fc.integer({ min: 1, max: 13 }))
      .chain(([[batchA, batchB], m, k, n]) => {
        const aShape = [...batchA, m, k];
        const bShape = [...batchB, k, n];
        return fc.tuple(fc.constant(aShape), valuesArb(numel(aShape)), fc.constant(bShape), valuesArb(numel(bShape)));
      });
    fc.assert(
      fc.property(caseArb, ([aShape, a, bShape, b]) => {
        const expected = naiveMatmul(a, aShape, b, bShape);
        const y = E.matmul(f64(a, aShape), f64(b, bShape));
        expect(y.shape).toEqual(expected.shape);
        expect(list(y)).toEqual(expected.data);
      }),
    );
  });

  test('crosses every cache block boundary (M, K, N larger than the blocks, none a multiple of the tile)', () => {
    const [m, k, n] = [70, 301, 530];
    const a = dyadic(m * k, 1);
    const b = dyadic(k * n, 2);
    expect(list(E.matmul(f64(a, [m, k]), f64(b, [k, n])))).toEqual(naiveMatmul(a, [m, k], b, [k, n]).data);
  });

  test('reads transposed, expanded and offset operands in place, with the same values as contiguous copies', () => {
    const a = f64(dyadic(3 * 5 * 4, 3), [3, 5, 4]);
    const b = f64(dyadic(4 * 6, 4), [4, 6]);
    const reference = (x: Tensor, y: Tensor) => list(E.matmul(E.clone(x), E.clone(y)));
    const aT = E.transpose(f64(dyadic(3 * 4 * 5, 5), [3, 4, 5]));
    const bT = E.transpose(f64(dyadic(6 * 4, 6), [6, 4]));
    expect(list(E.matmul(aT, bT))).toEqual(reference(aT, bT));
    const bExpanded = E.expand(b, [3, 4, 6]);
    expect(list(E.matmul(a, bExpanded))).toEqual(reference(a, bExpanded));
    const aSlice = E.narrow(E.narrow(a, 1, 1, 3), 2, 1, 2);
    const bSlice = E.narrow(b, 0, 2, 2);
    expect(list(E.matmul(aSlice, bSlice))).toEqual(reference(aSlice, bSlice));
  });

  test('f32 results are the float64 sums rounded once', () => {
    const a = E.randn([2, 9, 300], { dtype: 'float32' });
    const b = E.randn([300, 7], { dtype: 'float32' });
    const exact = E.matmul(E.cast(a, 'float64'), E.cast(b, 'float64')).toArraySync();
    expect(Array.from(E.matmul(a, b).toArraySync())).toEqual(Array.from(Float32Array.from(exact)));
  });

  test('1-D operands follow torch.matmul: dot product, row vector, column vector', () => {
    const v = f64([1, 2, 3], [3]);
    const m = f64([1, 0, 2, -1, 1, 1], [3, 2]);
    const batched = f64([1, 2, 3, 4, 5, 6, 7, 8, 9, 1, 2, 3], [2, 2, 3]);
    const dot = E.matmul(v, v);
    expect(dot.shape).toEqual([]);
    expect(dot.itemSync()).toBe(14);
    const row = E.matmul(v, m);
    expect(row.shape).toEqual([2]);
    expect(list(row)).toEqual([8, 1]);
    const col = E.matmul(batched, v);
    expect(col.shape).toEqual([2, 2]);
    expect(list(col)).toEqual([14, 32, 50, 14]);
    const vecBatch = E.matmul(v, E.transpose(batched));
    expect(vecBatch.shape).toEqual([2, 2]);
    expect(list(vecBatch)).toEqual([14, 32, 50, 14]);
  });

  test('an empty inner dim gives zeros', () => {
    const y = E.matmul(E.zeros([2, 0], { dtype: 'float64' }), E.zeros([0, 3], { dtype: 'float64' }));
    expect(y.shape).toEqual([2, 3]);
    expect(list(y)).toEqual([0, 0, 0, 0, 0, 0]);
  });

  test('bad inputs throw OpInputError naming the op and the shapes', () => {
    const t = (shape: number[], dtype: E.DType = 'float64') => E.zeros(shape, { dtype });
    expectOpError(() => E.matmul(t([]), t([2])), 'matmul', [], [2]);
    expectOpError(() => E.matmul(t([2, 3]), t([4, 2])), 'matmul', [2, 3], [4, 2]);
    expectOpError(() => E.matmul(t([3]), t([2])), 'matmul', [3], [2]);
    expectOpError(() => E.matmul(t([2, 2, 3]), t([3, 3, 1])), 'matmul', [2, 2, 3], [3, 3, 1]);
    expectOpError(() => E.matmul(t([2, 3]), t([3, 2], 'float32')), 'matmul', [2, 3], [3, 2]);
    expectOpError(() => E.matmul(t([2, 3], 'int32'), t([3, 2], 'int32')), 'matmul', [2, 3], [3, 2]);
  });
});

describe('linear', () => {
  test('is x·Wᵀ + bias over any leading dims, and on a 1-D input', () => {
    const x = f64(dyadic(2 * 3 * 4, 7), [2, 3, 4]);
    const weight = f64(dyadic(5 * 4, 8), [5, 4]);
    const bias = f64(dyadic(5, 9), [5]);
    const y = E.linear(x, weight, bias);
    expect(y.shape).toEqual([2, 3, 5]);
    const expected = naiveMatmul(list(x), [6, 4], list(E.transpose(weight).contiguous()), [4, 5]).data.map((v, i) => v + list(bias)[i % 5]!);
    expect(list(y)).toEqual(expected);
    const v = E.linear(E.narrow(E.reshape(x, [6, 4]), 0, 0, 1).reshape([4]), weight);
    expect(v.shape).toEqual([5]);
    expect(list(v)).toEqual(expected.slice(0, 5).map((e, i) => e - list(bias)[i]!));
  });

  test('gradients of x, weight and bias pass gradcheck', () => {
    const x = f64(dyadic(2 * 3 * 4, 10), [2, 3, 4]);
    const weight = f64(dyadic(2 * 4, 11), [2, 4]);
    const bias = f64(dyadic(2, 12), [2]);
    expect(E.gradcheck(E.linear, [x, weight, bias]).verdict).toBe('pass');
  });

  test('bad inputs throw OpInputError naming the op and the shapes', () => {
    const t = (shape: number[]) => E.zeros(shape, { dtype: 'float64' });
    expectOpError(() => E.linear(t([2, 3]), t([4, 2])), 'linear', [2, 3], [4, 2]);
    expectOpError(() => E.linear(t([2, 3]), t([4, 3, 1])), 'linear', [2, 3], [4, 3, 1]);
    expectOpError(() => E.linear(t([2, 3]), t([4, 3]), t([3])), 'linear', [2, 3], [4, 3], [3]);
  });
});
