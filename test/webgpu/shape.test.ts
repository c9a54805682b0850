import fc from 'fast-check';
import { expect, test } from 'vitest';
import * as E from '../../engine/index.js';
import type { Tensor } from '../../engine/index.js';
import { checkGradients, cpuTensor, describeGpu, onGpu, oddShapeArb, transposedLayout } from './helpers.js';

/*
 * The data-moving shape ops on WebGPU (pad, cat, flip, and copy through strided views): pure data movement,
 * so results must equal the CPU's exactly, forward and backward.
 */

async function expectSame(fn: (...xs: Tensor[]) => Tensor, inputs: Tensor[], layout?: (t: Tensor) => Tensor): Promise<void> {
  const want = Array.from(fn(...inputs).toArraySync());
  expect(Array.from(await onGpu(fn, inputs, layout))).toEqual(want);
}

describeGpu('shape ops on WebGPU', () => {
  test('pad: asymmetric amounts, any value, int32 too', async () => {
    await fc.assert(
      fc.asyncProperty(oddShapeArb({ minRank: 1, maxNumel: 1000 }), fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 2, maxLength: 8 }), fc.nat(), async (shape, amounts, seed) => {
        // One (before, after) pair for each of the last k dims.
        const pads = amounts.slice(0, 2 * Math.min(shape.length, Math.floor(amounts.length / 2)));
        const x = cpuTensor(shape, seed);
        const fn = (t: Tensor) => E.pad(t, pads, -1.5);
        await expectSame(fn, [x], transposedLayout);
        await checkGradients('pad', fn, [x], 0, seed);
      }),
      { numRuns: 10 },
    );
    const ints = E.fromArray([1, 2, 3, 4], [2, 2], { dtype: 'int32' });
    await expectSame((t) => E.pad(t, [1, 0, 0, 2], 7), [ints]);
  });

  test('cat along any dim, of strided inputs, and its gradient', async () => {
    await fc.assert(
      fc.asyncProperty(oddShapeArb({ minRank: 1, maxNumel: 800 }), fc.nat(), fc.nat(), async (shape, pick, seed) => {
        const dim = pick % shape.length;
        const shapes = [shape, shape.map((s, d) => (d === dim ? s + 2 : s)), shape.map((s, d) => (d === dim ? 1 : s))];
        const xs = shapes.map((s, i) => cpuTensor(s, seed + i));
        const fn = (...ts: Tensor[]) => E.cat(ts, dim);
        await expectSame(fn, xs, transposedLayout);
        await checkGradients('cat', fn, xs, 0, seed);
      }),
      { numRuns: 10 },
    );
  });

  test('flip along any dims, and stack/repeat built on cat and views', async () => {
    await fc.assert(
      fc.asyncProperty(oddShapeArb({ minRank: 1, maxNumel: 1000 }), fc.nat(), async (shape, seed) => {
        const dims = shape.map((_, d) => d).filter((d) => (seed >> d) & 1);
        const x = cpuTensor(shape, seed);
        await expectSame((t) => E.flip(t, dims), [x], transposedLayout);
        await checkGradients('flip', (t) => E.flip(t, dims), [x], 0, seed);
        await expectSame((a, b) => E.stack([a, b], 0), [x, E.neg(x)]);
        await expectSame((t) => E.repeat(t, [2, ...shape.map(() => 1)]), [x]);
      }),
      { numRuns: 10 },
    );
  });
});
