import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import * as E from '../../engine/index.js';
import type { View } from '../../engine/backend.js';
import { runPlan } from '../../engine/backends/cpu/strided.js';
import { broadcastShapes } from '../../engine/shape.js';
import { broadcastPairArb } from '../helpers/arbitraries.js';

/*
 * The CPU kernels' walks over strided and broadcast operands, against index arithmetic done element by element:
 * the run plan of the elementwise kernels, and the order in which `sum` adds (which fixes its rounding).
 */

/** A view of `shape` with arbitrary (possibly negative) strides and an offset, as permutes, flips and slices make. */
function viewArb(shape: number[]): fc.Arbitrary<View> {
  return fc
    .tuple(fc.array(fc.integer({ min: -40, max: 40 }), { minLength: shape.length, maxLength: shape.length }), fc.integer({ min: 0, max: 500 }))
    .map(([strides, offset]) => ({ storage: undefined as never, dtype: 'float32', shape, strides, offset }));
}

/** The storage offset of each element of `shape` in `view` (broadcast: missing and size-1 dims do not move). */
function naiveOffsets(view: View, shape: readonly number[]): number[] {
  const n = shape.reduce((a, b) => a * b, 1);
  const lead = shape.length - view.shape.length;
  return Array.from({ length: n }, (_, flat) => {
    let offset = view.offset;
    let rest = flat;
    for (let d = shape.length - 1; d >= 0; d--) {
      const i = rest % shape[d]!;
      rest = Math.floor(rest / shape[d]!);
      const vd = d - lead;
      if (vd >= 0 && view.shape[vd] !== 1) offset += i * view.strides[vd]!;
    }
    return offset;
  });
}

function expandRuns(plan: ReturnType<typeof runPlan>, k: number): number[] {
  return [...plan.starts[k]!].flatMap((start) => Array.from({ length: plan.inner }, (_, j) => start + j * plan.steps[k]!));
}

describe('run plans of the elementwise kernels', () => {
  test('the runs visit every view element by element in row-major order of the broadcast shape', () => {
    const pair = broadcastPairArb({ maxSide: 4, maxNumel: 96 }).chain(([a, b]) => fc.tuple(viewArb(a), viewArb(b)));
    fc.assert(
      fc.property(pair, ([a, b]) => {
        const shape = broadcastShapes('test', a.shape, b.shape);
        const plan = runPlan([a, b], shape);
        expect(expandRuns(plan, 0)).toEqual(naiveOffsets(a, shape));
        expect(expandRuns(plan, 1)).toEqual(naiveOffsets(b, shape));
      }),
    );
  });

  test('dense operands are one run; a broadcast row over [B, T, C] gives B·T runs of C', () => {
    const dense = (shape: number[]): View => ({ storage: undefined as never, dtype: 'float32', shape, strides: [shape[1]! * shape[2]!, shape[2]!, 1], offset: 0 });
    expect(runPlan([dense([2, 3, 4]), dense([2, 3, 4])], [2, 3, 4])).toMatchObject({ inner: 24, steps: [1, 1] });
    const row: View = { storage: undefined as never, dtype: 'float32', shape: [2, 1, 4], strides: [4, 4, 1], offset: 0 };
    const plan = runPlan([dense([2, 3, 4]), row], [2, 3, 4]);
    expect(plan.inner).toBe(4);
    expect([...plan.starts[1]!]).toEqual([0, 0, 0, 4, 4, 4]);
  });
});

describe('sum: the order of the additions', () => {
  /** 0 plus the elements in row-major order of the reduced dims, in float64, rounded once. */
  function naiveSum(values: number[], shape: number[], dims: number[], round: (v: number) => number): number[] {
    const kept = shape.map((_, d) => d).filter((d) => !dims.includes(d));
    const strides = shape.map((_, d) => shape.slice(d + 1).reduce((a, b) => a * b, 1));
    const grid = (ds: number[]) =>
      ds.reduce<number[]>((offsets, d) => offsets.flatMap((o) => Array.from({ length: shape[d]! }, (_, i) => o + i * strides[d]!)), [0]);
    return grid(kept).map((o) => round(grid(dims).reduce((acc, r) => acc + values[o + r]!, 0)));
  }

  // Huge and small values: (2⁵³ + 1) − 2⁵³ is 0 but (2⁵³ − 2⁵³) + 1 is 1, so any other order shows.
  const valueArb = fc.constantFrom(2 ** 53, -(2 ** 53), 1, 0.75, -3);
  const caseArb = fc
    .array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 4 })
    .chain((shape) =>
      fc.tuple(
        fc.constant(shape),
        fc.subarray(shape.map((_, d) => d), { minLength: 1 }),
        fc.array(valueArb, { minLength: shape.reduce((a, b) => a * b, 1), maxLength: shape.reduce((a, b) => a * b, 1) }),
        fc.constantFrom('float32' as const, 'float64' as const),
      ),
    );

  test('every output adds its elements in the same order whichever loop the kernel takes (bit-exact)', () => {
    fc.assert(
      fc.property(caseArb, ([shape, dims, values, dtype]) => {
        const x = E.fromArray(values, shape, { dtype });
        const stored = Array.from(x.toArraySync());
        const round = dtype === 'float32' ? Math.fround : (v: number) => v;
        expect(Array.from(E.sum(x, dims).toArraySync())).toEqual(naiveSum(stored, shape, dims, round));
      }),
    );
  });
});
