import fc from 'fast-check';
import { afterEach, expect, test } from 'vitest';
import * as E from '../../engine/index.js';
import type { Tensor } from '../../engine/index.js';
import { webgpu } from '../../engine/backends/webgpu/context.js';
import type { AdapterSummary } from '../../engine/backends/webgpu/context.js';
import { forceReduceSchedule } from '../../engine/backends/webgpu/reduce.js';
import { fixedSubgroupSize, forceRowSchedule, rowSchedule } from '../../engine/backends/webgpu/rows.js';
import { checkGradients, cpuTensor, describeGpu, expectClose, onGpu, oddShapeArb, oracle, transposedLayout } from './helpers.js';

/*
 * Reductions on WebGPU against the CPU float64 oracle: every reduce kernel along random dims of odd shapes, under
 * each schedule (thread per output, workgroup per output, and the two-pass split of very long rows), the CPU's
 * conventions for NaN and ties, int32, and the composite reductions (mean, var, logsumexp, softmax,
 * log_softmax) forward and backward; the fused row kernels (softmax, log_softmax, the norms) under each row
 * schedule, with rows aligned to 4 or not, and softmax's CPU conventions for ±∞ and NaN. A float32 sum of n
 * terms in any order is within (n − 1)·u·Σ|x| of the exact sum, so that is the bound (with Σ|x| from the oracle).
 */

afterEach(() => {
  forceReduceSchedule(undefined);
  forceRowSchedule(undefined);
});

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

  test('softmax and log_softmax fused: second derivatives through their output-based backward match the CPU', async () => {
    for (const op of [E.softmax, E.logSoftmax]) {
      // d/dx of ⟨∂/∂x ⟨op(x), w⟩, v⟩: the backward rule itself differentiated, on each backend.
      const secondOrder = (x: Tensor, w: Tensor, v: Tensor) => {
        const leaf = x.requiresGrad_();
        const [g] = E.grad([E.sum(E.mul(op(leaf, -1), w))], [leaf], undefined, { createGraph: true });
        return E.grad([E.sum(E.mul(g!, v))], [leaf])[0]!;
      };
      const [x, w, v] = [cpuTensor([3, 7], 11), cpuTensor([3, 7], 12), cpuTensor([3, 7], 13)];
      const want = oracle(secondOrder, [x, w, v]);
      expectClose(`second derivative of ${op.name}`, await onGpu(secondOrder, [x, w, v]), want, { atol: 64 * 2 ** -24 * 8 });
    }
  });

  test('fused row kernels under a thread per row (rows aligned to 4 or not, at any offset) and a subgroup per row', async () => {
    const schedules = fixedSubgroupSize(webgpu().adapter) ? (['thread', 'subgroup'] as const) : (['thread'] as const);
    for (const schedule of schedules) {
      forceRowSchedule(schedule);
      for (const [rows, last] of [[5, 3], [7, 12], [3, 256], [2, 1000], [4, 33]]) {
        const x = cpuTensor([rows + 1, last], last, { min: -8, max: 8 });
        const w = cpuTensor([last], 2);
        const b = cpuTensor([last], 3);
        // The rows from element `skip` on: an offset that is a multiple of 4 or not.
        const from = (t: Tensor, skip: number) => E.reshape(E.narrow(E.reshape(t, [-1]), 0, skip, rows * last), [rows, last]);
        for (const skip of [0, 2, last]) {
          const cases: [string, (...t: Tensor[]) => Tensor, Tensor[]][] = [
            ['softmax', (t) => E.softmax(from(t, skip), -1), [x]],
            ['log_softmax', (t) => E.logSoftmax(from(t, skip), -1), [x]],
            ['layer_norm', (t, w, b) => E.layerNorm(from(t, skip), [last], w, b), [x, w, b]],
            ['rms_norm', (t, w) => E.rmsNorm(from(t, skip), [last], w, 1e-6), [x, w]],
            ['group_norm', (t) => E.groupNorm(E.reshape(from(t, skip), [1, rows, last]), 1), [x]],
          ];
          for (const [name, fn, inputs] of cases) {
            const want = oracle(fn, inputs);
            const atol = (rows * last + 64) * 2 ** -24 * Math.max(8, ...Array.from(want, Math.abs));
            expectClose(`${name} [${rows},${last}] from ${skip} (${schedule})`, await onGpu(fn, inputs), want, { atol });
          }
        }
      }
    }
  });

  test('softmax and log_softmax of rows with −∞, only −∞, +∞ or NaN follow the CPU, under every row schedule', async () => {
    // Rows of 44, long enough for every lane of a subgroup and thread of a workgroup to hold some of the row, and
    // 11 vec4s where rows are read as vec4s two at a time, so that values at the end meet the odd last step.
    const row = (...v: number[]) => [...v, ...new Array<number>(44 - v.length).fill(0.5)];
    const rowEnding = (...v: number[]) => row(...v.reverse()).reverse();
    const rows = [
      row(0, -Infinity, 1),
      new Array<number>(44).fill(-Infinity),
      row(1, Infinity, 0),
      row(1, Infinity, 0, Infinity),
      row(3, NaN, 1),
      rowEnding(NaN),
      rowEnding(2, Infinity),
      [...new Array<number>(43).fill(-Infinity), 100],
      rowEnding(-80, 0, 80),
    ];
    const special = E.fromArray(rows.flat(), [rows.length, 44]);
    const schedules = fixedSubgroupSize(webgpu().adapter) ? (['thread', 'group', 'subgroup'] as const) : (['thread', 'group'] as const);
    for (const schedule of schedules) {
      forceRowSchedule(schedule);
      for (const [name, fn] of [['softmax', (t: Tensor) => E.softmax(t, -1)], ['log_softmax', (t: Tensor) => E.logSoftmax(t, -1)]] as const) {
        expectClose(`${name} (${schedule})`, await onGpu(fn, [special]), oracle(fn, [special]), { ulps: 8, atol: 2 ** -20 });
      }
    }
  });
});

test('the row schedule follows the adapter and the rows', () => {
  const adapter = (isCpu: boolean, subgroups: number, features = ['subgroups']): AdapterSummary => ({
    vendor: 'v', architecture: 'a', device: 'd', description: '', isCpu, subgroupMinSize: subgroups, subgroupMaxSize: subgroups, features, limits: {},
  });
  const gpu = adapter(false, 32);
  expect(rowSchedule(gpu, 16384, 256, 1)).toBe('subgroup');
  expect(rowSchedule(gpu, 16384, 4096, 1)).toBe('group');
  expect(rowSchedule(gpu, 16384, 256, 7)).toBe('group');
  expect(rowSchedule(gpu, 16384, 16, 1)).toBe('thread');
  expect(rowSchedule(adapter(false, 32, []), 100, 256, 1)).toBe('group');
  expect(rowSchedule({ ...gpu, subgroupMinSize: 16 }, 100, 256, 1)).toBe('group');
  const lavapipe = adapter(true, 8);
  expect(rowSchedule(lavapipe, 16384, 256, 1)).toBe('thread');
  expect(rowSchedule(lavapipe, 32, 16384, 1)).toBe('subgroup');
  expect(rowSchedule(lavapipe, 32, 16384, 3)).toBe('group');
});
