import fc from 'fast-check';
import { afterEach, test } from 'vitest';
import * as E from '../../engine/index.js';
import type { Tensor } from '../../engine/index.js';
import { forceConvChunkBudget, forceWeightGradSlices } from '../../engine/backends/webgpu/conv.js';
import { checkGradients, cpuTensor, describeGpu, expectClose, onGpu, oracle } from './helpers.js';

/*
 * conv2d and its two gradient kernels on WebGPU against the CPU float64 oracle: strides, asymmetric padding,
 * dilation, groups, the 1×1 shortcut, the chunked paths (the patches budget lowered so that work splits by
 * images, then by pixels), and the weight gradient's K cut into slices (what GPUs do, forced here). Each output is a sum of `terms` products, so its bound is (terms + 1)·u times the
 * same convolution of absolute values.
 */

afterEach(() => {
  forceConvChunkBudget(undefined);
  forceWeightGradSlices(undefined);
});

interface Case {
  x: number[];
  w: number[];
  opts: E.Conv2dOptions;
}

const caseArb: fc.Arbitrary<Case> = fc
  .record({
    n: fc.integer({ min: 1, max: 3 }),
    groups: fc.constantFrom(1, 2),
    cg: fc.integer({ min: 1, max: 3 }),
    og: fc.integer({ min: 1, max: 3 }),
    h: fc.integer({ min: 3, max: 9 }),
    w: fc.integer({ min: 3, max: 9 }),
    kh: fc.integer({ min: 1, max: 3 }),
    kw: fc.integer({ min: 1, max: 3 }),
    stride: fc.tuple(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 2 })),
    padding: fc.tuple(fc.nat(1), fc.nat(1), fc.nat(1), fc.nat(1)),
    dilation: fc.tuple(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 2 })),
  })
  .filter((c) => c.h + c.padding[0] + c.padding[1] >= c.dilation[0] * (c.kh - 1) + 1 && c.w + c.padding[2] + c.padding[3] >= c.dilation[1] * (c.kw - 1) + 1)
  .map((c) => ({
    x: [c.n, c.cg * c.groups, c.h, c.w],
    w: [c.og * c.groups, c.cg, c.kh, c.kw],
    opts: { stride: c.stride, padding: c.padding, dilation: c.dilation, groups: c.groups },
  }));

async function checkCase(c: Case, seed: number): Promise<void> {
  const x = cpuTensor(c.x, seed);
  const w = cpuTensor(c.w, seed + 1);
  const taps = c.w[1]! * c.w[2]! * c.w[3]!;
  const conv = (a: Tensor, b: Tensor) => E.conv2d(a, b, null, c.opts);
  const y = oracle(conv, [x, w]);
  expectClose('conv2d', await onGpu(conv, [x, w]), y, { ulps: taps + 1, scale: oracle((a, b) => conv(E.abs(a), E.abs(b)), [x, w]) });

  const yShape = E.conv2d(x, w, null, c.opts).shape;
  const gy = cpuTensor(yShape, seed + 2);
  const inputGrad = (g: Tensor, b: Tensor) => E.conv2dInputGrad(g, b, [c.x[2]!, c.x[3]!], c.opts);
  const weightGrad = (a: Tensor, g: Tensor) => E.conv2dWeightGrad(a, g, [c.w[2]!, c.w[3]!], c.opts);
  const inputTerms = (c.w[0]! / (c.opts.groups ?? 1)) * c.w[2]! * c.w[3]!;
  const weightTerms = yShape[0]! * yShape[2]! * yShape[3]!;
  expectClose('conv2d_input_grad', await onGpu(inputGrad, [gy, w]), oracle(inputGrad, [gy, w]), {
    ulps: inputTerms + 1,
    scale: oracle((a, b) => inputGrad(E.abs(a), E.abs(b)), [gy, w]),
  });
  expectClose('conv2d_weight_grad', await onGpu(weightGrad, [x, gy]), oracle(weightGrad, [x, gy]), {
    ulps: weightTerms + 1,
    scale: oracle((a, b) => weightGrad(E.abs(a), E.abs(b)), [x, gy]),
  });
}

describeGpu('conv2d on WebGPU vs the float64 oracle', () => {
  test('forward, input gradient and weight gradient kernels on random geometries', async () => {
    await fc.assert(fc.asyncProperty(caseArb, fc.nat(), checkCase), { numRuns: 12 });
  });

  test('the same in chunks of images and in chunks of pixels', async () => {
    for (const budget of [300, 60]) {
      forceConvChunkBudget(budget);
      await fc.assert(fc.asyncProperty(caseArb, fc.nat(), checkCase), { numRuns: 3 });
    }
    // Chunks of 3 pixels (54 patch elements) start mid-row of a 4×5 output, with stride 2 and dilation 2.
    forceConvChunkBudget(54);
    await checkCase({ x: [1, 2, 9, 11], w: [3, 2, 3, 3], opts: { stride: [2, 2], padding: 1, dilation: [1, 2] } }, 5);
  });

  test('the weight gradient with its K in slices, summed afterwards, also across chunks', async () => {
    for (const [slices, budget] of [[2, undefined], [4, undefined], [4, 300]] as const) {
      forceWeightGradSlices(slices);
      forceConvChunkBudget(budget);
      await fc.assert(fc.asyncProperty(caseArb, fc.nat(), checkCase), { numRuns: 3 });
    }
    // K = 2 images · 36 pixels = 72: four slices of 18, whatever the random cases drew.
    forceConvChunkBudget(undefined);
    await checkCase({ x: [2, 3, 6, 6], w: [4, 3, 3, 3], opts: { padding: 1 } }, 7);
  });

  test('1×1 convolutions (no patches) and grouped depthwise convolutions', async () => {
    await checkCase({ x: [2, 5, 4, 7], w: [3, 5, 1, 1], opts: {} }, 1);
    await checkCase({ x: [2, 4, 6, 5], w: [4, 1, 3, 3], opts: { groups: 4, padding: 1 } }, 2);
  });

  test('gradients through conv2d with bias (autograd uses the three kernels)', async () => {
    const x = cpuTensor([2, 4, 7, 6], 1);
    const w = cpuTensor([6, 2, 3, 3], 2);
    const b = cpuTensor([6], 3);
    const fn = (p: Tensor, q: Tensor, r: Tensor) => E.conv2d(p, q, r, { stride: [2, 1], padding: [1, 0, 2, 1], groups: 2 });
    await checkGradients('conv2d', fn, [x, w, b], 2 * 7 * 6 + 18, 4);
  });

  test('pooling and resampling built on conv, views and matmul', async () => {
    const x = cpuTensor([2, 3, 7, 9], 5);
    const cases: [string, (t: Tensor) => Tensor][] = [
      ['avg_pool2d', (t) => E.avgPool2d(t, 3, 2, 1)],
      ['upsample_nearest', (t) => E.upsampleNearest(t, [2, 3])],
      ['interpolate_bilinear', (t) => E.interpolateBilinear(t, [11, 5])],
    ];
    for (const [name, fn] of cases) {
      expectClose(name, await onGpu(fn, [x]), oracle(fn, [x]), { ulps: 32, scale: oracle((t) => fn(E.abs(t)), [x]) });
      await checkGradients(name, fn, [x], 32, 6);
    }
  });
});
