import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { type Tensor, fromArray, full, noGrad, randn, saveSafetensors } from '../../engine/index.js';
import { BasicConv2d, FIDInceptionA, FIDInceptionC, FIDInceptionE, InceptionB, InceptionD, InceptionV3, loadInception } from '../../eval/inception.js';
import { avgPool2dExcludePad, maxPool2d } from '../../eval/pooling.js';
import type { Module } from '../../nn/index.js';
import { type Images, averageWithoutPadding, catChannels, conv2d, map, maxPool, relu } from './reference.js';

/** Random float64 images [N, C, H, W] (values from a fixed formula), as a tensor and as reference data. */
function images(shape: [number, number, number, number], salt = 1): { tensor: Tensor; ref: Images } {
  const data = Float64Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => Math.sin(i * 1.37 + salt) * 1.5);
  return { tensor: fromArray(data, shape), ref: { shape, data } };
}

/** The module in float64 with non-trivial batch-norm statistics (random running mean/var, affine weights). */
function prepared<M extends Module>(module: M): M {
  module.to('float64');
  const state = new Map<string, Tensor>();
  for (const [key, t] of module.stateDict()) {
    if (/bn\.(running_mean|bias)$/.test(key)) state.set(key, randn(t.shape, { dtype: 'float64' }).mul(0.2));
    else if (/bn\.(running_var|weight)$/.test(key)) state.set(key, randn(t.shape, { dtype: 'float64' }).abs().add(0.5));
  }
  module.loadStateDict(state, { strict: false });
  return module.eval();
}

const values = (module: Module, key: string): Float64Array => Float64Array.from(module.stateDict().get(key)!.toArraySync());

/** BasicConv2d by its equations: conv (no bias), then (x − μ)/√(σ² + 0.001)·γ + β, then ReLU. */
function basicConv(module: Module, prefix: string, x: Images, geometry: { stride?: number; padding?: [number, number] } = {}): Images {
  const weight = module.stateDict().get(`${prefix}.conv.weight`)!;
  const [o, , kh, kw] = weight.shape as [number, number, number, number];
  const [mean, variance, gamma, beta] = ['running_mean', 'running_var', 'weight', 'bias'].map((k) => values(module, `${prefix}.bn.${k}`));
  const y = conv2d(x, values(module, `${prefix}.conv.weight`), [o, kh, kw], geometry);
  return relu(map(y, (v, c) => ((v - mean![c]!) / Math.sqrt(variance![c]! + 0.001)) * gamma![c]! + beta![c]!));
}

function expectClose(actual: Tensor, expected: Images): void {
  expect(actual.shape).toEqual(expected.shape);
  const got = actual.toArraySync();
  const scale = Math.max(1, ...expected.data.map(Math.abs));
  expected.data.forEach((e, i) => expect(Math.abs(got[i]! - e)).toBeLessThan(1e-11 * scale));
}

const run = (module: { forward(x: Tensor): Tensor }, x: Tensor) => noGrad(() => module.forward(x));

describe('pooling', () => {
  test('maxPool2d: stride 2 without padding, stride 1 with padding (−∞ pads), odd sizes', () => {
    const x = images([2, 3, 7, 6]);
    expectClose(maxPool2d(x.tensor, 3, 2), maxPool(x.ref, 3, 2));
    expectClose(maxPool2d(x.tensor, 3, 1, 1), maxPool(x.ref, 3, 1, 1));
    expectClose(maxPool2d(x.tensor, 2), maxPool(x.ref, 2, 2));
    const negative = images([1, 1, 3, 3], 4);
    expectClose(maxPool2d(negative.tensor.neg(), 3, 1, 1), maxPool({ ...negative.ref, data: negative.ref.data.map((v) => -v) }, 3, 1, 1));
  });

  test('avgPool2dExcludePad divides by the pixels inside the image', () => {
    const x = images([1, 2, 5, 4]);
    expectClose(avgPool2dExcludePad(x.tensor, 3, 1, 1), averageWithoutPadding(x.ref, 3, 1, 1));
    expectClose(avgPool2dExcludePad(x.tensor, 3, 2, 1), averageWithoutPadding(x.ref, 3, 2, 1));
  });

  test('rejects windows larger than the input', () => {
    expect(() => maxPool2d(images([1, 1, 2, 2]).tensor, 3, 2)).toThrow(/smaller than the 3×3 window/);
  });
});

describe('InceptionV3 blocks against their equations (random weights, float64)', () => {
  test('BasicConv2d: conv, batch norm with ε = 0.001 and running statistics, ReLU', () => {
    const block = prepared(new BasicConv2d(3, 5, [1, 3], { padding: [0, 1], stride: 2 }));
    const x = images([2, 3, 5, 6]);
    // BasicConv2d's keys are conv.* and bn.*: wrap it so the reference reads them under a prefix.
    const reference = basicConv({ stateDict: () => new Map([...block.stateDict()].map(([k, v]) => [`b.${k}`, v])) } as unknown as Module, 'b', x.ref, { padding: [0, 1], stride: 2 });
    expectClose(run(block, x.tensor), reference);
  });

  test('FIDInceptionA (Mixed_5b–5d): average pool without padding counts', () => {
    const block = prepared(new FIDInceptionA(6, 4));
    const x = images([1, 6, 5, 5]);
    const b = (name: string, input: Images, padding?: [number, number]) => basicConv(block, name, input, { padding });
    expectClose(run(block, x.tensor), catChannels([
      b('branch1x1', x.ref),
      b('branch5x5_2', b('branch5x5_1', x.ref), [2, 2]),
      b('branch3x3dbl_3', b('branch3x3dbl_2', b('branch3x3dbl_1', x.ref), [1, 1]), [1, 1]),
      b('branch_pool', averageWithoutPadding(x.ref, 3, 1, 1)),
    ]));
  });

  test('InceptionB (Mixed_6a): stride-2 branches and a 3×3 max pool', () => {
    const block = prepared(new InceptionB(4));
    const x = images([1, 4, 7, 7]);
    expectClose(run(block, x.tensor), catChannels([
      basicConv(block, 'branch3x3', x.ref, { stride: 2 }),
      basicConv(block, 'branch3x3dbl_3', basicConv(block, 'branch3x3dbl_2', basicConv(block, 'branch3x3dbl_1', x.ref), { padding: [1, 1] }), { stride: 2 }),
      maxPool(x.ref, 3, 2),
    ]));
  });

  test('FIDInceptionC (Mixed_6b–6e): factorised 1×7 / 7×1 convolutions', () => {
    const block = prepared(new FIDInceptionC(5, 3));
    const x = images([1, 5, 4, 5]);
    const wide: [number, number] = [0, 3];
    const tall: [number, number] = [3, 0];
    const b = (name: string, input: Images, padding?: [number, number]) => basicConv(block, name, input, { padding });
    const double = b('branch7x7dbl_5', b('branch7x7dbl_4', b('branch7x7dbl_3', b('branch7x7dbl_2', b('branch7x7dbl_1', x.ref), tall), wide), tall), wide);
    expectClose(run(block, x.tensor), catChannels([
      b('branch1x1', x.ref),
      b('branch7x7_3', b('branch7x7_2', b('branch7x7_1', x.ref), wide), tall),
      double,
      b('branch_pool', averageWithoutPadding(x.ref, 3, 1, 1)),
    ]));
  });

  test('InceptionD (Mixed_7a)', () => {
    const block = prepared(new InceptionD(4));
    const x = images([1, 4, 5, 5]);
    const b = (name: string, input: Images, geometry = {}) => basicConv(block, name, input, geometry);
    const tower = b('branch7x7x3_4', b('branch7x7x3_3', b('branch7x7x3_2', b('branch7x7x3_1', x.ref), { padding: [0, 3] }), { padding: [3, 0] }), { stride: 2 });
    expectClose(run(block, x.tensor), catChannels([b('branch3x3_2', b('branch3x3_1', x.ref), { stride: 2 }), tower, maxPool(x.ref, 3, 2)]));
  });

  test.each([
    ['average', 'FIDInceptionE_1 (Mixed_7b)'],
    ['max', 'FIDInceptionE_2 (Mixed_7c)'],
  ] as const)('FIDInceptionE with %s pooling: %s', (pooling, _name) => {
    const block = prepared(new FIDInceptionE(4, pooling));
    const x = images([1, 4, 3, 3]);
    const b = (name: string, input: Images, padding?: [number, number]) => basicConv(block, name, input, { padding });
    const single = b('branch3x3_1', x.ref);
    const double = b('branch3x3dbl_2', b('branch3x3dbl_1', x.ref), [1, 1]);
    const pooled = pooling === 'average' ? averageWithoutPadding(x.ref, 3, 1, 1) : maxPool(x.ref, 3, 1, 1);
    expectClose(run(block, x.tensor), catChannels([
      b('branch1x1', x.ref),
      b('branch3x3_2a', single, [0, 1]),
      b('branch3x3_2b', single, [1, 0]),
      b('branch3x3dbl_3a', double, [0, 1]),
      b('branch3x3dbl_3b', double, [1, 0]),
      b('branch_pool', pooled),
    ]));
  });
});

describe('InceptionV3', () => {
  // 23.9M parameters take a while to initialise: one instance serves every check.
  let model: InceptionV3;
  beforeAll(() => {
    model = new InceptionV3(false);
  });

  test('pytorch-fid’s layout: 94 conv/BN units and a 1008-way fc, 23,850,960 parameters', () => {
    const keys = [...model.stateDict().keys()];
    expect(keys.length).toBe(94 * 6 + 2);
    expect(model.numParameters()).toBe(23_850_960); // torchvision's 27,161,264 − the aux head + 8 more classes
    const shapes = Object.fromEntries([...model.stateDict()].map(([k, t]) => [k, t.shape]));
    expect(shapes['Conv2d_1a_3x3.conv.weight']).toEqual([32, 3, 3, 3]);
    expect(shapes['Mixed_5b.branch_pool.conv.weight']).toEqual([32, 192, 1, 1]);
    expect(shapes['Mixed_6e.branch7x7dbl_5.conv.weight']).toEqual([192, 192, 1, 7]);
    expect(shapes['Mixed_7c.branch3x3dbl_3b.conv.weight']).toEqual([384, 384, 3, 1]);
    expect(shapes['Mixed_7c.branch3x3dbl_3b.bn.running_var']).toEqual([384]);
    expect(shapes['fc.weight']).toEqual([1008, 2048]);
  });

  test('the smallest input (75×75, no resize) gives 2048 pool features and 1008 logits', () => {
    const { pool, logits } = noGrad(() => model.forward(randn([1, 3, 75, 75])));
    expect(pool.shape).toEqual([1, 2048]);
    expect(logits.shape).toEqual([1, 1008]);
    expect([...pool.toArraySync()].every(Number.isFinite)).toBe(true);
    expect(() => model.forward(randn([1, 1, 75, 75]))).toThrow(/RGB images/);
  });

  test('loads weights without the num_batches_tracked counters; other missing or extra keys are errors', async () => {
    const folder = await mkdtemp(join(tmpdir(), 'inception-'));
    try {
      const state = new Map([...model.stateDict()].filter(([k]) => !k.endsWith('num_batches_tracked')));
      state.set('fc.bias', full([1008], 7));
      await saveSafetensors(join(folder, 'good.safetensors'), state);
      await loadInception(join(folder, 'good.safetensors'), model);
      expect(model.fc.bias!.toArraySync()[5]).toBe(7);
      expect(model.parameters().every((p) => !p.requiresGrad)).toBe(true);

      state.delete('Mixed_6a.branch3x3.bn.running_var');
      state.set('AuxLogits.fc.bias', full([1], 0));
      await saveSafetensors(join(folder, 'bad.safetensors'), state);
      await expect(loadInception(join(folder, 'bad.safetensors'), model)).rejects.toThrow(/missing Mixed_6a.branch3x3.bn.running_var; unexpected AuxLogits.fc.bias/);
    } finally {
      await rm(folder, { recursive: true });
    }
  });
});
