import fc from 'fast-check';
import { afterEach, expect, test } from 'vitest';
import * as E from '../../engine/index.js';
import type { Tensor } from '../../engine/index.js';
import { forceRowSchedule } from '../../engine/backends/webgpu/rows.js';
import { checkGradients, cpuTensor, describeGpu, expectClose, onGpu, oddShapeArb, oracle, toGpu } from './helpers.js';

/*
 * The composite ops (activations, norms, attention, losses) on WebGPU, forward and backward, against the CPU
 * float64 oracle. Activations and norms run as fused kernels (their backward differentiates the composite
 * definition); softmax's fused kernel is called directly, as its op has no `infer` yet. Each op is a short
 * chain of roundings, some of them sums of n terms, so bounds are (n + c)·u of the problem's scale, with c
 * counting the other roundings. (rms_norm gets an explicit eps: its default is the dtype's machine epsilon,
 * which differs between the f32 and f64 runs.)
 */

afterEach(() => forceRowSchedule(undefined));

interface Case {
  name: string;
  inputs: Tensor[];
  fn: (...xs: Tensor[]) => Tensor;
  /** Terms in the longest sum. */
  n: number;
}

function cases(shape: number[], seed: number): Case[] {
  const x = cpuTensor(shape, seed, { min: -3, max: 3 });
  const last = shape[shape.length - 1]!;
  const rows = x.size / last;
  const y = cpuTensor(shape, seed + 1);
  const weight = cpuTensor([last], seed + 2);
  const bias = cpuTensor([last], seed + 3);
  const target = E.fromArray(Int32Array.from({ length: rows }, (_, i) => (i * 7 + seed) % last), [rows], { dtype: 'int32' });
  const logits = E.reshape(x, [rows, last]);
  return [
    { name: 'relu', inputs: [x], fn: E.relu, n: 1 },
    { name: 'leaky_relu', inputs: [x], fn: (t) => E.leakyRelu(t, 0.2), n: 1 },
    { name: 'gelu', inputs: [x], fn: (t) => E.gelu(t), n: 1 },
    { name: 'gelu (tanh)', inputs: [x], fn: (t) => E.gelu(t, 'tanh'), n: 1 },
    { name: 'silu', inputs: [x], fn: E.silu, n: 1 },
    { name: 'clamp', inputs: [x], fn: (t) => E.clamp(t, -1, 0.5), n: 1 },
    { name: 'layer_norm', inputs: [x, weight, bias], fn: (t, w, b) => E.layerNorm(t, [last], w, b), n: last },
    { name: 'rms_norm', inputs: [x, weight], fn: (t, w) => E.rmsNorm(t, [last], w, 1e-6), n: last },
    { name: 'mse_loss', inputs: [x, y], fn: (a, b) => E.mseLoss(a, b), n: x.size },
    { name: 'l1_loss', inputs: [x, y], fn: (a, b) => E.l1Loss(a, b, 'sum'), n: x.size },
    { name: 'cross_entropy', inputs: [logits, target], fn: (l, t) => E.crossEntropy(l, t, { labelSmoothing: 0.1 }), n: x.size },
    { name: 'normalize', inputs: [x], fn: (t) => E.normalize(t, { dim: -1 }), n: last },
    { name: 'cosine_similarity', inputs: [x, y], fn: (a, b) => E.cosineSimilarity(a, b, -1), n: last },
  ];
}

async function check(c: Case, seed: number): Promise<void> {
  const want = oracle(c.fn, c.inputs);
  const scale = Math.max(1, ...Array.from(want, Math.abs), ...c.inputs.flatMap((t) => Array.from(t.toArraySync(), Math.abs)));
  expectClose(c.name, await onGpu(c.fn, c.inputs), want, { atol: (c.n + 32) * 2 ** -24 * scale * 4 });
  await checkGradients(c.name, c.fn, c.inputs, c.n + 64, seed);
}

describeGpu('composite ops on WebGPU vs the float64 oracle', () => {
  test('activations, norms and losses, forward and backward', async () => {
    await fc.assert(
      fc.asyncProperty(oddShapeArb({ minRank: 2, maxRank: 3, maxNumel: 1200 }), fc.nat(), async (shape, seed) => {
        for (const c of cases(shape, seed)) await check(c, seed);
      }),
      { numRuns: 4 },
    );
  });

  test('norms under both row schedules (a thread per row, a workgroup per row), with and without affine', async () => {
    for (const schedule of ['thread', 'group'] as const) {
      forceRowSchedule(schedule);
      const x = cpuTensor([2, 6, 5, 3], 1);
      const w6 = cpuTensor([6], 2);
      const b6 = cpuTensor([6], 3);
      const w3 = cpuTensor([3], 4);
      await check({ name: `group_norm (${schedule})`, inputs: [x, w6, b6], fn: (t, w, b) => E.groupNorm(t, 3, w, b), n: 30 }, 1);
      await check({ name: `group_norm, no affine (${schedule})`, inputs: [x], fn: (t) => E.groupNorm(t, 2), n: 45 }, 2);
      await check({ name: `layer_norm, weight only (${schedule})`, inputs: [x, w3], fn: (t, w) => E.layerNorm(t, [3], w), n: 3 }, 3);
      await check({ name: `layer_norm over two dims (${schedule})`, inputs: [x], fn: (t) => E.layerNorm(t, [5, 3]), n: 15 }, 4);
      await check({ name: `rms_norm (${schedule})`, inputs: [x], fn: (t) => E.rmsNorm(t, [3], undefined, 1e-6), n: 3 }, 5);
    }
  });

  test('the fused softmax and log_softmax kernels along any dim, under both schedules', async () => {
    for (const schedule of ['thread', 'group'] as const) {
      forceRowSchedule(schedule);
      const x = cpuTensor([3, 33, 5], 7, { min: -8, max: 8 });
      for (const [name, fn] of [['softmax', E.softmax], ['log_softmax', E.logSoftmax]] as const) {
        for (const dim of [0, 1, 2]) {
          const gx = toGpu(x);
          const out = E.zeros(x.shape, { backend: 'webgpu' });
          E.getBackend('webgpu').kernel(name)!([gx], [out], { dim });
          const want = oracle((t) => fn(t, dim), [x]);
          expectClose(`${name} dim ${dim} (${schedule})`, await out.toArray(), want, { atol: 64 * 2 ** -24 * Math.max(1, ...Array.from(want, Math.abs)) });
        }
      }
    }
  });

  test('int32 relu and clamp are exact', async () => {
    const x = E.fromArray([-5, -1, 0, 1, 7, 100], [6], { dtype: 'int32' });
    for (const fn of [E.relu, (t: Tensor) => E.clamp(t, -1, 7), (t: Tensor) => E.clamp(t, 2), (t: Tensor) => E.clamp(t, undefined, 0)]) {
      expect(Array.from(await onGpu(fn, [x]))).toEqual(Array.from(fn(x).toArraySync()));
    }
  });

  test('scaled dot-product attention: plain, causal, with a boolean mask', async () => {
    const q = cpuTensor([2, 3, 7, 5], 1);
    const k = cpuTensor([2, 3, 9, 5], 2);
    const v = cpuTensor([2, 3, 9, 4], 3);
    const keep = E.fromArray(Int32Array.from({ length: 7 * 9 }, (_, i) => +(i % 4 !== 1)), [7, 9], { dtype: 'int32' });
    const variants: [string, (...xs: Tensor[]) => Tensor, Tensor[]][] = [
      ['attention', (a, b, c) => E.scaledDotProductAttention(a, b, c), [q, k, v]],
      ['attention (causal)', (a, b, c) => E.scaledDotProductAttention(a, b, c, { isCausal: true }), [q, k, v]],
      ['attention (mask)', (a, b, c, m) => E.scaledDotProductAttention(a, b, c, { mask: m }), [q, k, v, keep]],
    ];
    for (const [name, fn, inputs] of variants) await check({ name, inputs, fn, n: 9 * 5 }, 4);
  });
});
