import fc from 'fast-check';
import { afterEach, expect, test } from 'vitest';
import * as E from '../../engine/index.js';
import type { Tensor } from '../../engine/index.js';
import { forceReduceSchedule } from '../../engine/backends/webgpu/reduce.js';
import { checkGradients, cpuTensor, describeGpu, expectClose, onGpu, oddShapeArb, oracle, transposedLayout } from './helpers.js';

/*
 * Reductions on WebGPU against the CPU float64 oracle: every reduce kernel along random dims of odd shapes, under
 * each schedule (thread per output, workgroup per output, and the two-pass split of very long rows), the CPU's
 * conventions for NaN and ties, int32, and the composite reductions (mean, var, logsumexp, softmax,
 * log_softmax) forward and backward. A float32 sum of n terms in any order is within (n − 1)·u·Σ|x| of the exact
 * sum, so that is the bound (with Σ|x| from the oracle).
 */

afterEach(() => forceReduceSchedule(undefined));

/** A shape and a non-empty subset of its dims (or all dims), with keepdim. */
const caseArb = oddShapeArb({ minRank: 1, maxNumel: 4000 }).chain((shape) =>
  fc.tuple(fc.constant(shape), fc.subarray(shape.map((_, d) => d), { minLength: 1 }), fc.boolean(), fc.nat()),
);

const sumBound = (x: Tensor, dims: number[], keepdim: boolean) => {
  const n = dims.reduce((a, d) => a * x.shape[d]!, 1);
  return { ulps: n + 1, scale: oracle((t) => E.sum(E.abs(t), dims, keepdim), [x]) };
};

describeGpu('reductions on WebGPU vs the float64 oracle', () => {
  for (const schedule of ['thread', 'group', undefined] as const) {
    test(`sum, amax, amin along any dims (schedule: ${schedule ?? 'chosen by the adapter'})`, async () => {
      forceReduceSchedule(schedule);
      await fc.assert(
        fc.asyncProperty(caseArb, async ([shape, dims, keepdim, seed]) => {
          const x = cpuTensor(shape, seed);
          const sum = (t: Tensor) => E.sum(t, dims, keepdim);
          expectClose('sum', await onGpu(sum, [x], transposedLayout), oracle(sum, [x]), sumBound(x, dims, keepdim));
          for (const fn of [(t: Tensor) => E.amax(t, dims, keepdim), (t: Tensor) => E.amin(t, dims, keepdim)]) {
            expectClose('amax/amin', await onGpu(fn, [x]), oracle(fn, [x]));
          }
        }),
        // Each new (kept rank, reduced rank) pair compiles a shader: a few seconds on lavapipe, first time.
        { numRuns: schedule === 'group' ? 4 : 8 },
      );
    });

    test(`argmax and argmin along one dim or all (schedule: ${schedule ?? 'chosen by the adapter'})`, async () => {
      forceReduceSchedule(schedule);
      await fc.assert(
        fc.asyncProperty(caseArb, fc.boolean(), async ([shape, dims, keepdim, seed], whole) => {
          // A coarse grid of values, so that ties are common: the first index must win.
          const x = E.fromArray(Float32Array.from(cpuTensor(shape, seed).toArraySync(), (v) => Math.round(v * 2)), shape);
          const dim = whole ? undefined : dims[0];
          for (const fn of [(t: Tensor) => E.argmax(t, dim, keepdim), (t: Tensor) => E.argmin(t, dim, keepdim)]) {
            const got = await onGpu(fn, [x]);
            expect(got).toBeInstanceOf(Int32Array);
            expect(Array.from(got)).toEqual(Array.from(fn(x).toArraySync()));
          }
        }),
        { numRuns: schedule === 'group' ? 4 : 8 },
      );
    });
  }

  test('very long rows take the two-pass split, for every op', async () => {
    for (const [shape, dims] of [[[300, 250], [0, 1]], [[3, 40000], [1]], [[40001, 2], [0]]] as const) {
      const x = cpuTensor(shape, shape[0]);
      const sum = (t: Tensor) => E.sum(t, [...dims]);
      expectClose('sum', await onGpu(sum, [x]), oracle(sum, [x]), sumBound(x, [...dims], false));
      for (const fn of [(t: Tensor) => E.amax(t, [...dims]), (t: Tensor) => E.amin(t, [...dims])]) expectClose('amax/amin', await onGpu(fn, [x]), oracle(fn, [x]));
      if (dims.length === 1) {
        for (const fn of [(t: Tensor) => E.argmax(t, dims[0]), (t: Tensor) => E.argmin(t, dims[0])]) {
          expect(Array.from(await onGpu(fn, [x]))).toEqual(Array.from(fn(x).toArraySync()));
        }
      }
    }
  });

  test('NaN wins amax/amin and the arg ops take its first position; int32 reduces exactly', async () => {
    for (const schedule of ['thread', 'group'] as const) {
      forceReduceSchedule(schedule);
      const x = E.fromArray([1, NaN, 3, NaN, 5, 5, -1, -1, 2, 2, 0, 7], [2, 6]);
      for (const fn of [(t: Tensor) => E.amax(t, 1), (t: Tensor) => E.amin(t, 1), (t: Tensor) => E.argmax(t, 1), (t: Tensor) => E.argmin(t, 1)]) {
        const want = fn(x).toArraySync();
        const got = await onGpu(fn, [x]);
        expect(Array.from(got).map(String)).toEqual(Array.from(want).map(String));
      }
      const ints = E.fromArray([5, -3, 9, 9, 2147483647, 1, -8, 0], [2, 4], { dtype: 'int32' });
      for (const fn of [(t: Tensor) => E.sum(t, 1), (t: Tensor) => E.amax(t, 0), (t: Tensor) => E.amin(t), (t: Tensor) => E.argmax(t, 1)]) {
        expect(Array.from(await onGpu(fn, [ints]))).toEqual(Array.from(fn(ints).toArraySync()));
      }
    }
  });

  test('sum over no elements is 0; reducing over no dims copies', async () => {
    expect(Array.from(await onGpu((t) => E.sum(t, 1), [E.zeros([3, 0])]))).toEqual([0, 0, 0]);
    const x = cpuTensor([4, 5], 1);
    expect(Array.from(await onGpu((t) => E.sum(t, []), [x]))).toEqual(Array.from(x.toArraySync()));
  });

  test('gradients of sum, amax, amin (ties share the gradient)', async () => {
    await fc.assert(
      fc.asyncProperty(caseArb, async ([shape, dims, keepdim, seed]) => {
        const x = E.fromArray(Float32Array.from(cpuTensor(shape, seed).toArraySync(), (v) => Math.round(v * 4) / 4), shape);
        await checkGradients('sum', (t) => E.sum(t, dims, keepdim), [x], 0, seed);
        await checkGradients('amax', (t) => E.amax(t, dims, keepdim), [x], 4, seed);
        await checkGradients('amin', (t) => E.amin(t, dims, keepdim), [x], 4, seed);
      }),
      { numRuns: 8 },
    );
  });

  test('composite reductions forward and backward: mean, var, logsumexp, softmax, log_softmax', async () => {
    await fc.assert(
      fc.asyncProperty(oddShapeArb({ minRank: 1, maxNumel: 3000 }), fc.nat(), async (shape, seed) => {
        const x = cpuTensor(shape, seed, { min: -4, max: 4 });
        const last = shape.length - 1;
        const n = shape[last]!;
        const cases: [string, (t: Tensor) => Tensor][] = [
          ['mean', (t) => E.mean(t, last)],
          ['var', (t) => E.variance(t, last)],
          ['logsumexp', (t) => E.logsumexp(t, last)],
          ['softmax', (t) => E.softmax(t, last)],
          ['log_softmax', (t) => E.logSoftmax(t, last)],
        ];
        for (const [name, fn] of cases) {
          // Each is a few passes of sums over n terms and exp/log: (n + 16) roundings of the largest magnitude.
          const want = oracle(fn, [x]);
          const scale = Math.max(1, ...Array.from(want, Math.abs), ...Array.from(x.toArraySync(), Math.abs));
          expectClose(name, await onGpu(fn, [x]), want, { atol: (n + 16) * 2 ** -24 * scale * 4 });
          await checkGradients(name, fn, [x], n + 64, seed);
        }
      }),
      { numRuns: 6 },
    );
  });
});
