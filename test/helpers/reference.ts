import { expect } from 'vitest';
import type { Tensor } from '../../engine/index.js';
import { numel } from '../../engine/shape.js';

/* Plain-JS reference arrays: a shape and its row-major data, for writing op references index by index. */

export interface Ref {
  shape: readonly number[];
  data: number[];
}

export const refOf = (t: Tensor): Ref => ({ shape: t.shape, data: Array.from(t.toArraySync()) });

/** The row-major flat position of the multi-index `idx` in `shape`. */
export const flatIndex = (shape: readonly number[], idx: readonly number[]): number => idx.reduce((flat, i, d) => flat * shape[d]! + i, 0);

/** The element of `a` at the multi-index `idx`. */
export const at = (a: Ref, idx: readonly number[]): number => a.data[flatIndex(a.shape, idx)]!;

/** Every multi-index of `shape`, row-major. */
export function* positions(shape: readonly number[]): Generator<number[]> {
  const idx = new Array<number>(shape.length).fill(0);
  for (let k = 0; k < numel(shape); k++) {
    yield [...idx];
    for (let d = shape.length - 1; d >= 0 && ++idx[d]! === shape[d]; d--) idx[d] = 0;
  }
}

/** The array of `shape` whose element at each multi-index is `value(index)`. */
export const build = (shape: readonly number[], value: (idx: number[]) => number): Ref => ({ shape, data: [...positions(shape)].map(value) });

/** `actual` has exactly the shape and the values of `expected`. */
export function expectEqualRef(actual: Tensor, expected: Ref): void {
  expect(actual.shape).toEqual(expected.shape);
  expect(Array.from(actual.toArraySync())).toEqual(expected.data);
}

/**
 * Deterministic dyadic values k/64 in [-2, 2] (an LCG seeded by `seed`), for cases too large for a property
 * generator: sums of their products stay exact in float64, so references can be compared exactly.
 */
export function dyadic(n: number, seed: number): number[] {
  let s = seed >>> 0;
  return Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return ((s >>> 8) % 257 - 128) / 64;
  });
}
