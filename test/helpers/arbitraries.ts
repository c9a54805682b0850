import fc from 'fast-check';
import type { DType } from '../../engine/index.js';
import { Tensor, fromArray } from '../../engine/index.js';
import { broadcastShapes, numel } from '../../engine/shape.js';

/** Generators for property tests: shapes (ranks 0–4, size-1 dims, broadcasting) and dyadic values. */

export type Shape = number[];

/** A shape of rank `minRank..maxRank` with sides `minSide..maxSide`, at most `maxNumel` elements. */
export function shapeArb({ minRank = 0, maxRank = 4, minSide = 1, maxSide = 3, maxNumel = 24 } = {}): fc.Arbitrary<Shape> {
  return fc
    .array(fc.integer({ min: minSide, max: maxSide }), { minLength: minRank, maxLength: maxRank })
    .filter((s) => numel(s) <= maxNumel);
}

/** Two shapes that broadcast together: some dims of one are 1 or missing. */
export function broadcastPairArb(opts: Parameters<typeof shapeArb>[0] = {}): fc.Arbitrary<[Shape, Shape]> {
  return shapeArb(opts).chain((full) =>
    fc
      .tuple(
        fc.array(fc.boolean(), { minLength: full.length, maxLength: full.length }),
        fc.array(fc.boolean(), { minLength: full.length, maxLength: full.length }),
        fc.integer({ min: 0, max: full.length }),
        fc.boolean(),
      )
      .map(([ones1, ones2, drop, which]) => {
        const a = full.map((s, i) => (ones1[i] ? 1 : s));
        const b = full.map((s, i) => (ones2[i] && !ones1[i] ? 1 : s)).slice(drop);
        return (which ? [a, b] : [b, a]) as [Shape, Shape];
      }),
  ).filter(([a, b]) => {
    try {
      broadcastShapes('test', a, b);
      return true;
    } catch {
      return false;
    }
  });
}

export interface ValueDomain {
  min?: number;
  max?: number;
  /** Keep values at least this far from each listed point (kinks, poles). */
  avoid?: number[];
  avoidRadius?: number;
  /** Dyadic resolution: values are k / 2^bits. */
  bits?: number;
}

/** Dyadic values k/2^bits in [min, max], away from the listed kinks. */
export function valuesArb(n: number, { min = -2, max = 2, avoid = [], avoidRadius = 1 / 32, bits = 6 }: ValueDomain = {}): fc.Arbitrary<number[]> {
  const scale = 2 ** bits;
  return fc.array(
    fc
      .integer({ min: Math.ceil(min * scale), max: Math.floor(max * scale) })
      .map((k) => k / scale)
      .filter((v) => avoid.every((p) => Math.abs(v - p) >= avoidRadius)),
    { minLength: n, maxLength: n },
  );
}

/** A float64 tensor of `shape` with dyadic values in the domain. */
export function tensorArb(shape: Shape, domain: ValueDomain = {}, dtype: DType = 'float64'): fc.Arbitrary<Tensor> {
  return valuesArb(numel(shape), domain).map((v) => fromArray(v, shape, { dtype }));
}

/** Values with every element distinct (for max/min/sort-like ops, where ties are tested separately). */
export function distinctValuesArb(n: number, domain: ValueDomain = {}): fc.Arbitrary<number[]> {
  const { min = -2, max = 2, bits = 6 } = domain;
  const scale = 2 ** bits;
  return fc.uniqueArray(fc.integer({ min: Math.ceil(min * scale), max: Math.floor(max * scale) }), { minLength: n, maxLength: n }).map((ks) => ks.map((k) => k / scale));
}
