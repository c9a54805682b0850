import fc from 'fast-check';
import { expect, test } from 'vitest';
import * as E from '../../engine/index.js';
import type { Tensor } from '../../engine/index.js';
import { checkGradients, cpuTensor, describeGpu, expectClose, onGpu, oddShapeArb, oracle, transposedLayout } from './helpers.js';

/*
 * index_select, gather and scatter_add on WebGPU. Selections move data, so they must match the CPU exactly;
 * scatter_add sums repeated indices in index order, within (count + 1)·u of the exact sums (count = how many
 * sources land on an element), and gives the same bits on every run (no atomics).
 */

/** Random int32 indices in [0, size) of `shape`. */
function indices(shape: readonly number[], size: number, seed: number): Tensor {
  const raw = cpuTensor(shape, seed, { min: 0, max: size }).toArraySync();
  return E.fromArray(Int32Array.from(raw, (v) => Math.min(size - 1, Math.floor(v))), shape, { dtype: 'int32' });
}

const caseArb = oddShapeArb({ minRank: 1, maxNumel: 1500 }).chain((shape) => fc.tuple(fc.constant(shape), fc.nat(shape.length - 1), fc.nat()));

describeGpu('indexing on WebGPU', () => {
  test('index_select along any dim, repeated indices, and its gradient', async () => {
    await fc.assert(
      fc.asyncProperty(caseArb, fc.integer({ min: 1, max: 9 }), async ([shape, dim, seed], count) => {
        const x = cpuTensor(shape, seed);
        const index = indices([count], shape[dim]!, seed + 1);
        const fn = (t: Tensor, i: Tensor) => E.indexSelect(t, dim, i);
        expect(Array.from(await onGpu(fn, [x, index], transposedLayout))).toEqual(Array.from(fn(x, index).toArraySync()));
        await checkGradients('index_select', fn, [x, index], count, seed);
      }),
      { numRuns: 10 },
    );
  });

  test('gather along any dim with an index smaller than the input, and its gradient', async () => {
    await fc.assert(
      fc.asyncProperty(caseArb, async ([shape, dim, seed]) => {
        const x = cpuTensor(shape, seed);
        const indexShape = shape.map((s, d) => (d === dim ? s + 2 : Math.max(1, s - (seed % 2))));
        const index = indices(indexShape, shape[dim]!, seed + 1);
        const fn = (t: Tensor, i: Tensor) => E.gather(t, dim, i);
        expect(Array.from(await onGpu(fn, [x, index], transposedLayout))).toEqual(Array.from(fn(x, index).toArraySync()));
        await checkGradients('gather', fn, [x, index], indexShape[dim]!, seed);
      }),
      { numRuns: 10 },
    );
  });

  test('scatter_add sums repeated indices in a fixed order, and its gradient', async () => {
    await fc.assert(
      fc.asyncProperty(caseArb, async ([shape, dim, seed]) => {
        const x = cpuTensor(shape, seed);
        const srcShape = shape.map((s, d) => (d === dim ? 2 * s + 1 : s));
        const indexShape = srcShape.map((s, d) => (d === dim ? s : Math.max(1, s - (seed % 2))));
        const src = cpuTensor(srcShape, seed + 2);
        const index = indices(indexShape, shape[dim]!, seed + 1);
        const fn = (t: Tensor, i: Tensor, s: Tensor) => E.scatterAdd(t, dim, i, s);
        const scale = oracle((t, i, s) => fn(E.abs(t), i, E.abs(s)), [x, index, src]);
        const first = await onGpu(fn, [x, index, src], transposedLayout);
        expectClose('scatter_add', first, oracle(fn, [x, index, src]), { ulps: indexShape[dim]! + 1, scale });
        expect(Array.from(await onGpu(fn, [x, index, src]))).toEqual(Array.from(first));
        await checkGradients('scatter_add', fn, [x, index, src], indexShape[dim]!, seed);
      }),
      { numRuns: 10 },
    );
  });

  test('embedding picks rows; out-of-range indices read NaN instead of stray memory', async () => {
    const weight = cpuTensor([7, 5], 3);
    const ids = E.fromArray([6, 0, 0, 3, 2, 6], [2, 3], { dtype: 'int32' });
    const fn = (i: Tensor, w: Tensor) => E.embedding(i, w);
    expect(Array.from(await onGpu(fn, [ids, weight]))).toEqual(Array.from(fn(ids, weight).toArraySync()));
    await checkGradients('embedding', (w, i) => fn(i, w), [weight, ids], 6, 1);
    // The CPU refuses out-of-range indices up front; on the GPU (no read-back to check) they must stay harmless.
    const bad = E.fromArray([1, 9, -1], [3], { backend: 'webgpu', dtype: 'int32' });
    const picked = await E.indexSelect(E.fromArray([10, 20, 30], [3], { backend: 'webgpu' }), 0, bad).toArray();
    expect(Array.from(picked).map(String)).toEqual(['20', 'NaN', 'NaN']);
  });
});
