import { describe, expect, test } from 'vitest';
import fc from 'fast-check';
import * as E from '../../engine/index.js';
import type { Backend, Tensor } from '../../engine/index.js';
import { numel } from '../../engine/shape.js';
import { shapeArb, tensorArb } from '../helpers/arbitraries.js';
import { opProperty } from '../helpers/props.js';
import { expectOpError } from '../helpers/expect.js';
import { type Ref, at, build, expectEqualRef, refOf } from '../helpers/reference.js';

/*
 * cat, stack, split, chunk, flip, repeat: gradients (opProperty), forward values against plain-JS references
 * written index by index, metamorphic identities, and the error cases PyTorch refuses.
 * Property functions see only tensors, so integer attributes (dims, sizes) travel as int32 tensors.
 */

const ints = (values: readonly number[]): Tensor => E.fromArray(values, [values.length], { dtype: 'int32' });
const int = (value: number): Tensor => E.fromArray([value], [], { dtype: 'int32' });
const list = (t: Tensor): number[] => Array.from(t.toArraySync());

const f64 = (values: number[], shape: number[]): Tensor => E.fromArray(values, shape, { dtype: 'float64' });
const iota = (shape: number[]): Tensor => f64(Array.from({ length: numel(shape) }, (_, i) => i + 1), shape);

/* ---------------------------------------------------------------- cat */

/** A second backend sharing the CPU kernels, to have tensors that live elsewhere. */
const cpu = E.getBackend('cpu');
const twinBackend: Backend = { ...cpu, name: 'cpu-twin', upload: (data) => ({ ...cpu.upload(data), backend: twinBackend }) };


/** [dim, ...tensors]: equal shapes except along dim (sizes 0..3 there); dim sometimes negative. */
const catCase = shapeArb({ minRank: 1, maxRank: 3, maxNumel: 12 }).chain((shape) =>
  fc
    .tuple(fc.integer({ min: 0, max: shape.length - 1 }), fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 3 }), fc.boolean())
    .chain(([dim, sizes, negative]) =>
      fc
        .tuple(...sizes.map((n) => tensorArb(shape.map((s, d) => (d === dim ? n : s)))))
        .map((xs) => [int(negative ? dim - shape.length : dim), ...xs]),
    ),
);

function catReference(xs: Ref[], dim: number): Ref {
  const shape = xs[0]!.shape.map((s, d) => (d === dim ? xs.reduce((n, x) => n + x.shape[d]!, 0) : s));
  return build(shape, (idx) => {
    let i = idx[dim]!;
    const source = xs.find((x) => (i < x.shape[dim]! ? true : ((i -= x.shape[dim]!), false)))!;
    return at(source, idx.map((v, d) => (d === dim ? i : v)));
  });
}

const positive = (dim: number, rank: number): number => (dim < 0 ? dim + rank : dim);

describe('cat', () => {
  opProperty('cat', { inputs: catCase, fn: (dim, ...xs) => E.cat(xs, dim!.itemSync()) });

  test('forward matches the reference', () => {
    fc.assert(
      fc.property(catCase, ([dim, ...xs]) => {
        const d = positive(dim!.itemSync(), xs[0]!.rank);
        expectEqualRef(E.cat(xs, d), catReference(xs.map(refOf), d));
      }),
    );
  });

  test('a hand example along each dim', () => {
    const a = iota([2, 2]);
    const b = f64([9, 8], [2, 1]);
    expect(list(E.cat([a, b], 1))).toEqual([1, 2, 9, 3, 4, 8]);
    expect(list(E.cat([a, f64([7, 6], [1, 2])], -2))).toEqual([1, 2, 3, 4, 7, 6]);
  });

  test('reads views (transposed and narrowed inputs)', () => {
    const x = iota([3, 2]);
    expect(list(E.cat([E.transpose(x), E.narrow(iota([2, 3]), 1, 1, 1)], 1))).toEqual([1, 3, 5, 2, 2, 4, 6, 5]);
  });

  test('refuses what PyTorch refuses', () => {
    expectOpError(() => E.cat([]), 'cat', /non-empty/);
    expectOpError(() => E.cat([iota([2, 3]), iota([3, 3])], 1), 'cat', /tensor 1 of shape \[3,3\].*\(input shapes \[2,3\], \[3,3\]\)/);
    expectOpError(() => E.cat([iota([2, 3]), iota([2, 3, 1])]), 'cat');
    expectOpError(() => E.cat([iota([2]), E.ones([2], { dtype: 'float32' })]), 'cat', /dtypes differ/);
    expectOpError(() => E.cat([f64([1], []), f64([2], [])]), 'cat', /zero-dimensional/);
    expectOpError(() => E.cat([iota([2, 3])], 2), 'cat', /dim 2 is out of range/);
    expectOpError(() => E.cat([iota([2]), E.fromArray([1, 2], [2], { dtype: 'float64', backend: twinBackend })]), 'cat', /different backends/);
  });
});

/* ---------------------------------------------------------------- stack */

/** [dim, ...tensors] of one shape; dim in [-(rank+1), rank]. */
const stackCase = shapeArb({ maxRank: 2, maxNumel: 6 }).chain((shape) =>
  fc
    .tuple(fc.integer({ min: -shape.length - 1, max: shape.length }), fc.integer({ min: 1, max: 3 }))
    .chain(([dim, count]) => fc.array(tensorArb(shape), { minLength: count, maxLength: count }).map((xs) => [int(dim), ...xs])),
);

describe('stack', () => {
  opProperty('stack', { inputs: stackCase, fn: (dim, ...xs) => E.stack(xs, dim!.itemSync()), numRuns: 15 });

  test('forward matches the reference: element idx comes from tensor idx[dim]', () => {
    fc.assert(
      fc.property(stackCase, ([dim, ...xs]) => {
        const d = positive(dim!.itemSync(), xs[0]!.rank + 1);
        const refs = xs.map(refOf);
        const shape = [...xs[0]!.shape.slice(0, d), xs.length, ...xs[0]!.shape.slice(d)];
        expectEqualRef(E.stack(xs, dim!.itemSync()), build(shape, (idx) => at(refs[idx[d]!]!, idx.filter((_, k) => k !== d))));
      }),
    );
  });

  test('refuses an empty list, and tensors of different shapes or dtypes', () => {
    expectOpError(() => E.stack([]), 'stack', /non-empty/);
    expectOpError(() => E.stack([iota([2]), iota([3])]), 'stack', /same shape.*\[2\], \[3\]/);
    expectOpError(() => E.stack([iota([2]), E.ones([2])]), 'stack', /dtypes differ/);
    expectOpError(() => E.stack([iota([2])], 2), 'stack', /dim 2 is out of range/);
  });
});

/* ---------------------------------------------------------------- split / chunk */

/** [dim, sections, x]: sections are random non-negative lengths summing to the size of dim. */
const splitCase = shapeArb({ minRank: 1, maxRank: 3, maxNumel: 12 }).chain((shape) =>
  fc.integer({ min: 0, max: shape.length - 1 }).chain((dim) =>
    fc
      .tuple(fc.array(fc.integer({ min: 0, max: shape[dim]! }), { maxLength: 3 }), tensorArb(shape))
      .map(([cuts, x]) => {
        const edges = [0, ...cuts.sort((a, b) => a - b), shape[dim]!];
        return [int(dim), ints(edges.slice(1).map((e, i) => e - edges[i]!)), x];
      }),
  ),
);

const sizesAlong = (pieces: Tensor[], dim: number): number[] => pieces.map((p) => p.shape[dim]!);

describe('split and chunk', () => {
  opProperty('split', { inputs: splitCase, fn: (dim, sections, x) => E.split(x!, list(sections!), dim!.itemSync()), numRuns: 15 });

  test('pieces are views, and cat puts them back together', () => {
    fc.assert(
      fc.property(splitCase, fc.integer({ min: 1, max: 4 }), ([dim, sections, x], k) => {
        const d = dim!.itemSync();
        for (const pieces of [E.split(x!, list(sections!), d), E.split(x!, k, d), E.chunk(x!, k, d)]) {
          pieces.forEach((p) => expect(p.storage).toBe(x!.storage));
          expect(list(E.cat(pieces, d))).toEqual(list(x!));
        }
      }),
    );
  });

  test('piece sizes follow PyTorch', () => {
    const x = iota([5, 2]);
    expect(sizesAlong(E.split(x, 2), 0)).toEqual([2, 2, 1]);
    expect(sizesAlong(E.split(x, 5), 0)).toEqual([5]);
    expect(sizesAlong(E.split(x, 7), 0)).toEqual([5]);
    expect(sizesAlong(E.split(x, [1, 0, 4]), 0)).toEqual([1, 0, 4]);
    expect(sizesAlong(E.split(x, 1, -1), 1)).toEqual([1, 1]);
    expect(sizesAlong(E.split(E.zeros([0, 2]), 3), 0)).toEqual([0]);
    expect(sizesAlong(E.chunk(x, 3), 0)).toEqual([2, 2, 1]);
    expect(sizesAlong(E.chunk(iota([6]), 4), 0)).toEqual([2, 2, 2]);
    expect(sizesAlong(E.chunk(iota([2]), 5), 0)).toEqual([1, 1]);
    expect(sizesAlong(E.chunk(E.zeros([0]), 3), 0)).toEqual([0, 0, 0]);
    expect(list(E.split(x, [3, 2])[1]!)).toEqual([7, 8, 9, 10]);
  });

  test('refuses what PyTorch refuses', () => {
    const x = iota([5, 2]);
    expectOpError(() => E.split(x, [2, 2]), 'split', /summing to 5/);
    expectOpError(() => E.split(x, [6, -1]), 'split', /non-negative/);
    expectOpError(() => E.split(x, 0), 'split', /positive/);
    expectOpError(() => E.split(x, 1.5), 'split', /positive/);
    expectOpError(() => E.split(f64([1], []), 1), 'split', /rank at least 1/);
    expectOpError(() => E.split(x, 1, 2), 'split', /out of range/);
    expectOpError(() => E.chunk(x, 0), 'chunk', /positive/);
    expectOpError(() => E.chunk(f64([1], []), 1), 'chunk', /rank at least 1/);
    expectOpError(() => E.chunk(x, 2, -3), 'chunk', /out of range/);
  });
});

/* ---------------------------------------------------------------- flip */

/** [dims, x]: a random subset of the dims, some written negative. */
const flipCase = shapeArb().chain((shape) =>
  fc
    .tuple(fc.subarray(shape.map((_, d) => d)), fc.array(fc.boolean(), { minLength: shape.length, maxLength: shape.length }), tensorArb(shape))
    .map(([dims, negative, x]) => [ints(dims.map((d) => (negative[d] ? d - shape.length : d))), x]),
);

describe('flip', () => {
  opProperty('flip', { inputs: flipCase, fn: (dims, x) => E.flip(x!, list(dims!)) });

  test('forward matches the reference, and flipping twice is the identity', () => {
    fc.assert(
      fc.property(flipCase, ([dimsT, x]) => {
        const dims = list(dimsT!).map((d) => positive(d, x!.rank));
        const ref = refOf(x!);
        const flipped = E.flip(x!, list(dimsT!));
        expectEqualRef(flipped, build(x!.shape, (idx) => at(ref, idx.map((v, d) => (dims.includes(d) ? x!.shape[d]! - 1 - v : v)))));
        expect(list(E.flip(flipped, dims))).toEqual(list(x!));
      }),
    );
  });

  test('reads strided views, and accepts a single dim', () => {
    expect(list(E.flip(E.transpose(iota([2, 3])), 1))).toEqual([4, 1, 5, 2, 6, 3]);
    expect(list(E.flip(iota([2, 2]), -1))).toEqual([2, 1, 4, 3]);
  });

  test('refuses repeated and out-of-range dims', () => {
    expectOpError(() => E.flip(iota([2, 3]), [1, -1]), 'flip', /repeat/);
    expectOpError(() => E.flip(iota([2, 3]), [2]), 'flip', /out of range/);
  });
});

/* ---------------------------------------------------------------- repeat */

/** [repeats, x]: as many repeats as dims, or one more (a new leading dim); 0 empties a dim. */
const repeatCase = shapeArb({ maxRank: 2, maxNumel: 6 }).chain((shape) =>
  fc
    .tuple(fc.integer({ min: shape.length, max: shape.length + 1 }).chain((n) => fc.array(fc.integer({ min: 0, max: 2 }), { minLength: n, maxLength: n })), tensorArb(shape))
    .map(([repeats, x]) => [ints(repeats), x]),
);

describe('repeat', () => {
  opProperty('repeat', { inputs: repeatCase, fn: (repeats, x) => E.repeat(x!, list(repeats!)), numRuns: 15 });

  test('forward matches the reference: tiles wrap around modulo the input size', () => {
    fc.assert(
      fc.property(repeatCase, ([repeatsT, x]) => {
        const repeats = list(repeatsT!);
        const lead = repeats.length - x!.rank;
        const ref = refOf(x!);
        const shape = repeats.map((r, d) => r * (d < lead ? 1 : x!.shape[d - lead]!));
        expectEqualRef(E.repeat(x!, repeats), build(shape, (idx) => at(ref, idx.slice(lead).map((v, d) => v % x!.shape[d]!))));
      }),
    );
  });

  test('a hand example, like torch.Tensor.repeat', () => {
    expect(list(E.repeat(f64([1, 2], [2]), [2, 2]))).toEqual([1, 2, 1, 2, 1, 2, 1, 2]);
    expect(E.repeat(f64([1, 2], [2]), [3, 1, 2]).shape).toEqual([3, 1, 4]);
  });

  test('refuses too few or negative repeats', () => {
    expectOpError(() => E.repeat(iota([2, 3]), [2]), 'repeat', /fewer entries/);
    expectOpError(() => E.repeat(iota([2, 3]), [2, -1]), 'repeat', /non-negative/);
  });
});
