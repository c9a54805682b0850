import { describe, expect, test } from 'vitest';
import fc from 'fast-check';
import * as E from '../../engine/index.js';
import type { Tensor } from '../../engine/index.js';
import { numel } from '../../engine/shape.js';
import { shapeArb, tensorArb } from '../helpers/arbitraries.js';
import { opProperty } from '../helpers/props.js';
import { expectOpError } from '../helpers/expect.js';
import { type Ref, at, build, expectEqualRef, flatIndex, positions, refOf } from '../helpers/reference.js';

/*
 * index_select, gather, scatter_add and embedding: gradients (opProperty; int32 indices are generated with each
 * case and passed through), forward values against plain-JS references on random cases (indices drawn with
 * replacement, so repeats are common), the gather/scatter_add adjoint identity, and bounds and shape errors.
 * Property functions see only tensors, so the dim travels as a 0-d int32 tensor.
 */

const int = (value: number): Tensor => E.fromArray([value], [], { dtype: 'int32' });
const indices = (values: readonly number[], shape: readonly number[] = [values.length]): Tensor => E.fromArray(values, shape, { dtype: 'int32' });
const f64 = (values: readonly number[], shape: readonly number[]): Tensor => E.fromArray(values, shape, { dtype: 'float64' });
const list = (t: Tensor): number[] => Array.from(t.toArraySync());

/** Int32 indices of `shape`, each in [0, size). */
const indexArb = (shape: readonly number[], size: number): fc.Arbitrary<Tensor> =>
  fc.array(fc.integer({ min: 0, max: size - 1 }), { minLength: numel(shape), maxLength: numel(shape) }).map((v) => indices(v, shape));

/* ---------------------------------------------------------------- plain-JS reference arrays */

const replaced = (idx: readonly number[], dim: number, value: number): number[] => idx.map((v, d) => (d === dim ? value : v));

/** A shape of rank 1–3 and a dim of it. */
const shapeAndDim = shapeArb({ minRank: 1, maxRank: 3, maxNumel: 12 }).chain((shape) => fc.tuple(fc.constant(shape), fc.integer({ min: 0, max: shape.length - 1 })));

/** An index shape for gather/scatter_add: any length (0–3) along dim, at most `limit`'s sides elsewhere. */
const indexShapeArb = (limit: readonly number[], dim: number): fc.Arbitrary<number[]> =>
  fc.tuple(...limit.map((s, d) => fc.integer({ min: d === dim ? 0 : 1, max: d === dim ? 3 : s })));

/* ---------------------------------------------------------------- index_select */

/** [x, dim, index]: a 1-D index of length 0–4. */
const indexSelectCase = shapeAndDim.chain(([shape, dim]) =>
  fc.tuple(tensorArb(shape), fc.integer({ min: 0, max: 4 }).chain((n) => indexArb([n], shape[dim]!))).map(([x, index]) => [x, int(dim), index]),
);

describe('index_select', () => {
  opProperty('index_select', { inputs: indexSelectCase, fn: (x, dim, index) => E.indexSelect(x!, dim!.itemSync(), index!), wrt: [0] });

  test('forward matches the reference', () => {
    fc.assert(
      fc.property(indexSelectCase, ([x, dimT, index]) => {
        const dim = dimT!.itemSync();
        const ref = refOf(x!);
        const picks = list(index!);
        const shape = x!.shape.map((s, d) => (d === dim ? picks.length : s));
        expectEqualRef(E.indexSelect(x!, dim, index!), build(shape, (idx) => at(ref, replaced(idx, dim, picks[idx[dim]!]!))));
      }),
    );
  });

  test('a row picked twice gets the sum of both gradients', () => {
    const x = f64([1, 2, 3, 4, 5, 6], [3, 2]).requiresGrad_();
    const y = E.indexSelect(x, 0, indices([1, 1, 0]));
    expect(list(y)).toEqual([3, 4, 3, 4, 1, 2]);
    E.sum(E.mul(y, f64([1, 10, 100, 1000, 5, 7], [3, 2]))).backward();
    expect(list(x.grad!)).toEqual([5, 7, 101, 1010, 0, 0]);
  });

  test('reads strided views of both the input and the index', () => {
    const x = E.transpose(f64([1, 2, 3, 4, 5, 6], [3, 2])); // [[1,3,5],[2,4,6]]
    const index = E.narrow(indices([9, 2, 0, 2]), 0, 1, 3);
    expect(list(E.indexSelect(x, 1, index))).toEqual([5, 1, 5, 6, 2, 6]);
    expect(list(E.indexSelect(x, 0, E.expand(indices([1], []), [2])))).toEqual([2, 4, 6, 2, 4, 6]);
  });

  test('a 0-d index picks one slice, keeping the dim (as PyTorch)', () => {
    const y = E.indexSelect(f64([1, 2, 3, 4], [2, 2]), -1, indices([1], []));
    expect(y.shape).toEqual([2, 1]);
    expect(list(y)).toEqual([2, 4]);
  });

  test('refuses bad indices, naming the value and the shapes', () => {
    const x = f64([1, 2, 3, 4, 5, 6], [2, 3]);
    expectOpError(() => E.indexSelect(x, 1, indices([0, 3])), 'index_select', /index 3 is out of bounds for dim 1 of size 3 \(input shapes \[2,3\], \[2\]\)/);
    expectOpError(() => E.indexSelect(x, 0, indices([-1])), 'index_select', /index -1 is out of bounds for dim 0 of size 2/);
    expectOpError(() => E.indexSelect(x, 0, f64([0], [1])), 'index_select', /int32/);
    expectOpError(() => E.indexSelect(x, 0, indices([0, 1], [1, 2])), 'index_select', /1-D/);
    expectOpError(() => E.indexSelect(f64([1], []), 0, indices([0])), 'index_select', /rank at least 1/);
    expectOpError(() => E.indexSelect(x, 2, indices([0])), 'index_select', /out of range/);
  });
});

/* ---------------------------------------------------------------- gather */

/** [x, dim, index]: the index has x's rank, any length along dim, at most x's sides elsewhere. */
const gatherCase = shapeAndDim.chain(([shape, dim]) =>
  indexShapeArb(shape, dim)
    .chain((indexShape) => fc.tuple(tensorArb(shape), indexArb(indexShape, shape[dim]!)))
    .map(([x, index]) => [x, int(dim), index]),
);

describe('gather', () => {
  opProperty('gather', { inputs: gatherCase, fn: (x, dim, index) => E.gather(x!, dim!.itemSync(), index!), wrt: [0] });

  test('forward matches the reference: out[p] = x[p with p[dim] = index[p]]', () => {
    fc.assert(
      fc.property(gatherCase, ([x, dimT, index]) => {
        const dim = dimT!.itemSync();
        const ref = refOf(x!);
        const picks = refOf(index!);
        expectEqualRef(E.gather(x!, dim, index!), build(index!.shape, (idx) => at(ref, replaced(idx, dim, at(picks, idx)))));
      }),
    );
  });

  test('reads strided views of both the input and the index', () => {
    const x = E.transpose(f64([1, 2, 3, 4, 5, 6], [3, 2])); // [[1,3,5],[2,4,6]]
    const index = E.transpose(indices([2, 0, 1, 1], [2, 2])); // [[2,1],[0,1]]
    expect(list(E.gather(x, 1, index))).toEqual([5, 3, 2, 4]);
  });

  test('a 0-d input and index act as one element along dim 0 (as PyTorch)', () => {
    expect(list(E.gather(f64([7], []), 0, indices([0], [])))).toEqual([7]);
    expectOpError(() => E.gather(f64([7], []), 0, indices([1], [])), 'gather', /index 1 is out of bounds for dim 0 of size 1/);
  });

  test('refuses bad indices and mismatched shapes', () => {
    const x = f64([1, 2, 3, 4, 5, 6], [2, 3]);
    expectOpError(() => E.gather(x, 1, indices([0, 5], [1, 2])), 'gather', /index 5 is out of bounds for dim 1 of size 3 \(input shapes \[2,3\], \[1,2\]\)/);
    expectOpError(() => E.gather(x, 0, indices([-1], [1, 1])), 'gather', /index -1 is out of bounds for dim 0 of size 2/);
    expectOpError(() => E.gather(x, 0, indices([0, 1])), 'gather', /rank 2, got 1/);
    expectOpError(() => E.gather(x, 0, indices([0, 0, 0, 0], [1, 4])), 'gather', /larger than the input at dim 1/);
    expectOpError(() => E.gather(x, 0, f64([0], [1, 1])), 'gather', /int32/);
  });
});

/* ---------------------------------------------------------------- scatter_add */

/** [x, dim, index, src]: index shaped as for gather; src at least as large as the index, sometimes larger. */
const scatterAddCase = shapeAndDim.chain(([shape, dim]) =>
  indexShapeArb(shape, dim)
    .chain((indexShape) =>
      fc
        .array(fc.integer({ min: 0, max: 1 }), { minLength: shape.length, maxLength: shape.length })
        .chain((extra) => fc.tuple(tensorArb(shape), indexArb(indexShape, shape[dim]!), tensorArb(indexShape.map((s, d) => s + extra[d]!)))),
    )
    .map(([x, index, src]) => [x, int(dim), index, src]),
);

function scatterAddReference(x: Ref, dim: number, index: Ref, src: Ref): Ref {
  const out = { shape: x.shape, data: [...x.data] };
  for (const idx of positions(index.shape)) out.data[flatIndex(x.shape, replaced(idx, dim, at(index, idx)))]! += at(src, idx);
  return out;
}

describe('scatter_add', () => {
  opProperty('scatter_add', { inputs: scatterAddCase, fn: (x, dim, index, src) => E.scatterAdd(x!, dim!.itemSync(), index!, src!), wrt: [0, 3] });

  test('forward matches the reference (repeated indices accumulate)', () => {
    fc.assert(
      fc.property(scatterAddCase, ([x, dimT, index, src]) => {
        const dim = dimT!.itemSync();
        expectEqualRef(E.scatterAdd(x!, dim, index!, src!), scatterAddReference(refOf(x!), dim, refOf(index!), refOf(src!)));
      }),
    );
  });

  test('a hand example: duplicates add up, x is left untouched', () => {
    const x = f64([1, 1, 1, 1], [4]);
    const y = E.scatterAdd(x, 0, indices([3, 0, 3, 3]), f64([1, 2, 4, 8], [4]));
    expect(list(y)).toEqual([3, 1, 1, 14]);
    expect(list(x)).toEqual([1, 1, 1, 1]);
  });

  test('gather and scatter_add are adjoint: <gather(x, i), v> = <x, scatter_add(0, i, v)>', () => {
    fc.assert(
      fc.property(gatherCase.chain(([x, dim, index]) => tensorArb([...index!.shape]).map((v) => [x!, dim!, index!, v] as const)), ([x, dimT, index, v]) => {
        const dim = dimT.itemSync();
        const lhs = E.sum(E.mul(E.gather(x, dim, index), v)).itemSync();
        const rhs = E.sum(E.mul(x, E.scatterAdd(E.zerosLike(x), dim, index, v))).itemSync();
        expect(lhs).toBeCloseTo(rhs, 12);
      }),
    );
  });

  test('float32 sums are kept in double precision and rounded once', () => {
    // Added one by one in float32, each 2^-25 would vanish against 1 (half an ulp, ties to even).
    const tiny = 2 ** -25;
    const y = E.scatterAdd(E.ones([1]), 0, indices([0, 0, 0, 0]), E.fromArray([tiny, tiny, tiny, tiny], [4]));
    expect(list(y)).toEqual([1 + 2 ** -23]);
  });

  test('refuses bad indices, mismatched dtypes and shapes', () => {
    const x = f64([0, 0, 0, 0, 0, 0], [2, 3]);
    const src = f64([1, 2], [1, 2]);
    expectOpError(() => E.scatterAdd(x, 1, indices([0, 3], [1, 2]), src), 'scatter_add', /index 3 is out of bounds for dim 1 of size 3 \(input shapes \[2,3\], \[1,2\], \[1,2\]\)/);
    expectOpError(() => E.scatterAdd(x, 0, indices([-2, 0], [1, 2]), src), 'scatter_add', /index -2 is out of bounds/);
    expectOpError(() => E.scatterAdd(x, 1, indices([0, 1], [1, 2]), E.ones([1, 2])), 'scatter_add', /dtypes differ/);
    expectOpError(() => E.scatterAdd(x, 1, indices([0, 1, 2], [1, 3]), src), 'scatter_add', /larger than src/);
    expectOpError(() => E.scatterAdd(x, 1, indices([0, 1]), f64([1, 2], [2])), 'scatter_add', /same rank/);
    expectOpError(() => E.scatterAdd(x, 1, f64([0, 1], [1, 2]), src), 'scatter_add', /int32/);
  });
});

/* ---------------------------------------------------------------- embedding */

/** [weight, indices]: weight [num 1–4, dim 1–3], indices of rank 0–2. */
const embeddingCase = fc
  .tuple(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 3 }), shapeArb({ maxRank: 2, maxNumel: 6 }))
  .chain(([num, dim, indexShape]) => fc.tuple(tensorArb([num, dim]), indexArb(indexShape, num)));

describe('embedding', () => {
  opProperty('embedding', { inputs: embeddingCase, fn: (weight, ids) => E.embedding(ids!, weight!), wrt: [0], numRuns: 15 });

  test('forward matches the reference: out[..., j] = weight[indices[...], j]', () => {
    fc.assert(
      fc.property(embeddingCase, ([weight, ids]) => {
        const w = refOf(weight);
        const picks = refOf(ids);
        const shape = [...ids.shape, weight.shape[1]!];
        expectEqualRef(E.embedding(ids, weight), build(shape, (idx) => at(w, [at(picks, idx.slice(0, -1)), idx.at(-1)!])));
      }),
    );
  });

  test('a repeated token accumulates its gradient', () => {
    const weight = f64([1, 2, 3, 4, 5, 6], [3, 2]).requiresGrad_();
    E.sum(E.embedding(indices([2, 0, 2, 2], [2, 2]), weight)).backward();
    expect(list(weight.grad!)).toEqual([1, 1, 0, 0, 3, 3]);
  });

  test('refuses bad indices and weights, naming embedding', () => {
    const weight = f64([1, 2, 3, 4, 5, 6], [3, 2]);
    expectOpError(() => E.embedding(indices([0, 3]), weight), 'embedding', /index 3 is out of bounds for dim 0 of size 3 \(input shapes \[2\], \[3,2\]\)/);
    expectOpError(() => E.embedding(indices([-1]), weight), 'embedding', /index -1/);
    expectOpError(() => E.embedding(indices([0]), f64([1, 2], [2])), 'embedding', /2-D/);
    expectOpError(() => E.embedding(f64([0], [1]), weight), 'embedding', /int32/);
  });
});
