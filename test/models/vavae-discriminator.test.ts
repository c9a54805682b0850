import { describe, expect, test } from 'vitest';
import * as E from '../../engine/index.js';
import type { Tensor } from '../../engine/index.js';
import { BatchNorm2d, assign } from '../../nn/index.js';
import { NLayerDiscriminator, adoptWeight, generatorAdversarialLoss, hingeDLoss, softplus, vanillaDLoss } from '../../models/vavae/index.js';

/*
 * The PatchGAN side of the VA-VAE loss: BatchNorm2d (PyTorch's train/eval semantics and running statistics), the
 * NLayerDiscriminator's layout, geometry and official init, and the discriminator losses.
 */

const f64 = { dtype: 'float64' } as const;

function values(t: Tensor): number[] {
  return Array.from(t.toArraySync());
}

/** x [2, 2, 1, 3]: channel 0 holds 1…6 over the batch, channel 1 holds −3, 0, 3, 6, 9, 12. */
function batch(): Tensor {
  return E.fromArray([1, 2, 3, -3, 0, 3, 4, 5, 6, 6, 9, 12], [2, 2, 1, 3], f64);
}

/** Per channel over (N, H, W): the values, their mean, biased and unbiased variances. */
function channelStats(x: Tensor, c: number) {
  const [n, , h, w] = x.shape as [number, number, number, number];
  const all = values(x);
  const v: number[] = [];
  for (let b = 0; b < n; b++) for (let i = 0; i < h * w; i++) v.push(all[(b * x.shape[1]! + c) * h * w + i]!);
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  const ss = v.reduce((a, b) => a + (b - mean) ** 2, 0);
  return { v, mean, biased: ss / v.length, unbiased: ss / (v.length - 1) };
}

describe('BatchNorm2d', () => {
  test("PyTorch's keys, initial values and buffer dtypes", () => {
    const bn = new BatchNorm2d(3);
    expect([...bn.stateDict().keys()]).toEqual(['weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked']);
    expect(values(bn.running_var!)).toEqual([1, 1, 1]);
    expect(bn.num_batches_tracked!.dtype).toBe('int32');
    expect(bn.namedParameters().map(([k]) => k)).toEqual(['weight', 'bias']);
  });

  test('training: batch mean and biased variance normalise; running stats take the unbiased variance, momentum 0.1', () => {
    const bn = new BatchNorm2d(2).to('float64');
    const x = batch();
    const y = values(bn.forward(x));
    for (const c of [0, 1]) {
      const { v, mean, biased, unbiased } = channelStats(x, c);
      const out = channelStats(E.fromArray(y, x.shape, f64), c).v;
      v.forEach((xi, i) => expect(out[i]).toBeCloseTo((xi - mean) / Math.sqrt(biased + 1e-5), 12));
      expect(values(bn.running_mean!)[c]).toBeCloseTo(0.1 * mean, 14);
      expect(values(bn.running_var!)[c]).toBeCloseTo(0.9 + 0.1 * unbiased, 14);
    }
    expect(bn.num_batches_tracked!.itemSync()).toBe(1);
    bn.forward(x);
    const { mean, unbiased } = channelStats(x, 1);
    expect(values(bn.running_mean!)[1]).toBeCloseTo(0.9 * 0.1 * mean + 0.1 * mean, 14);
    expect(values(bn.running_var!)[1]).toBeCloseTo(0.9 * (0.9 + 0.1 * unbiased) + 0.1 * unbiased, 13);
    expect(bn.num_batches_tracked!.itemSync()).toBe(2);
  });

  test('eval: the running statistics normalise, nothing is updated; weight and bias apply per channel', () => {
    const bn = new BatchNorm2d(2, { eps: 0 }).to('float64');
    bn.forward(batch());
    const [m0, m1] = values(bn.running_mean!);
    const [v0, v1] = values(bn.running_var!);
    assign(bn.weight!, E.fromArray([2, -1], [2], f64));
    assign(bn.bias!, E.fromArray([0.5, 0], [2], f64));
    const y = values(bn.eval().forward(E.fromArray([1, 2], [1, 2, 1, 1], f64)));
    expect(y[0]).toBeCloseTo((2 * (1 - m0!)) / Math.sqrt(v0!) + 0.5, 12);
    expect(y[1]).toBeCloseTo(-(2 - m1!) / Math.sqrt(v1!), 12);
    expect(bn.num_batches_tracked!.itemSync()).toBe(1);
  });

  test('momentum null: the running values are the cumulative averages', () => {
    const bn = new BatchNorm2d(2, { momentum: null }).to('float64');
    const a = batch();
    const b = E.mul(batch(), 3);
    bn.forward(a);
    bn.forward(b);
    const meanA = channelStats(a, 0).mean;
    const meanB = channelStats(b, 0).mean;
    expect(values(bn.running_mean!)[0]).toBeCloseTo((meanA + meanB) / 2, 13);
    expect(values(bn.running_var!)[0]).toBeCloseTo((channelStats(a, 0).unbiased + channelStats(b, 0).unbiased) / 2, 12);
  });

  test('without running statistics: no buffers, batch statistics in eval mode too; no affine: no parameters', () => {
    const bn = new BatchNorm2d(2, { trackRunningStats: false, affine: false }).eval();
    expect([...bn.stateDict().keys()]).toEqual([]);
    const y = channelStats(bn.forward(E.cast(batch(), 'float32')), 0);
    expect(y.mean).toBeCloseTo(0, 6);
  });

  test('errors: a single value per channel in training, a wrong channel count', () => {
    const bn = new BatchNorm2d(2);
    expect(() => bn.forward(E.zeros([1, 2, 1, 1]))).toThrow(/more than 1 value per channel/);
    expect(() => bn.forward(E.zeros([2, 3, 2, 2]))).toThrow(/expected input \[N, 2, H, W\]/);
    expect(() => bn.eval().forward(E.zeros([1, 2, 1, 1]))).not.toThrow();
  });

  test('gradcheck (float64), training mode: input, weight and bias', () => {
    const bn = new BatchNorm2d(2).to('float64');
    const x = E.fromArray([0.5, -1.25, 2, 0.75, 0, -0.5, 1.5, 0.25, -2, 1, 0.125, -0.75], [2, 2, 1, 3], f64);
    const fn = (xi: Tensor, w: Tensor, b: Tensor) => {
      const layer = bn as unknown as { weight: Tensor; bias: Tensor };
      const [ow, ob] = [layer.weight, layer.bias];
      layer.weight = w;
      layer.bias = b;
      try {
        return bn.forward(xi);
      } finally {
        layer.weight = ow;
        layer.bias = ob;
      }
    };
    const report = E.gradcheck(fn, [x, E.fromArray([1.5, -0.5], [2], f64), E.fromArray([0.25, 1], [2], f64)]);
    expect(report.verdict, String(report)).toBe('pass');
  });
});

describe('NLayerDiscriminator', () => {
  test('the official layout: keys, shapes, biases only on the first and last convs', () => {
    E.manualSeed(1);
    const d = new NLayerDiscriminator();
    const shapes = Object.fromEntries([...d.stateDict()].map(([k, t]) => [k, t.shape]));
    expect(shapes).toEqual({
      'main.0.weight': [64, 3, 4, 4],
      'main.0.bias': [64],
      'main.2.weight': [128, 64, 4, 4],
      'main.3.weight': [128],
      'main.3.bias': [128],
      'main.3.running_mean': [128],
      'main.3.running_var': [128],
      'main.3.num_batches_tracked': [],
      'main.5.weight': [256, 128, 4, 4],
      'main.6.weight': [256],
      'main.6.bias': [256],
      'main.6.running_mean': [256],
      'main.6.running_var': [256],
      'main.6.num_batches_tracked': [],
      'main.8.weight': [512, 256, 4, 4],
      'main.9.weight': [512],
      'main.9.bias': [512],
      'main.9.running_mean': [512],
      'main.9.running_var': [512],
      'main.9.num_batches_tracked': [],
      'main.11.weight': [1, 512, 4, 4],
      'main.11.bias': [1],
    });
  });

  test('weights_init: conv weights N(0, 0.02), BatchNorm weights N(1, 0.02) and biases 0, conv biases PyTorch-default', () => {
    E.manualSeed(2);
    const d = new NLayerDiscriminator();
    const state = d.stateDict();
    const moments = (key: string) => {
      const v = values(state.get(key)!);
      const mean = v.reduce((a, b) => a + b, 0) / v.length;
      return { mean, std: Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length), v };
    };
    const conv = moments('main.8.weight'); // 2M draws
    expect(Math.abs(conv.mean)).toBeLessThan(1e-4);
    expect(conv.std).toBeCloseTo(0.02, 4);
    const bn = moments('main.9.weight'); // 512 draws: mean within 5 standard errors
    expect(Math.abs(bn.mean - 1)).toBeLessThan((5 * 0.02) / Math.sqrt(512));
    expect(bn.std).toBeGreaterThan(0.015);
    expect(bn.std).toBeLessThan(0.025);
    expect(moments('main.9.bias').v.every((b) => b === 0)).toBe(true);
    const bias = moments('main.0.bias').v;
    const bound = 1 / Math.sqrt(3 * 16);
    expect(bias.every((b) => Math.abs(b) <= bound)).toBe(true);
    expect(Math.max(...bias.map(Math.abs))).toBeGreaterThan(bound / 2);
  });

  test('patch logits: three halvings and two size-keeping 4×4 convs (256² → 30², 32² → 2²)', () => {
    const size = (n: number, layers: number) => {
      let s = n;
      for (let i = 0; i < layers; i++) s = Math.floor((s + 2 - 4) / 2) + 1;
      return s - 2;
    };
    expect(size(256, 3)).toBe(30);
    E.manualSeed(3);
    expect(new NLayerDiscriminator().forward(E.randn([2, 3, 32, 32])).shape).toEqual([2, 1, 2, 2]);
    expect(new NLayerDiscriminator({ inputChannels: 1, numLayers: 1 }).forward(E.randn([2, 1, 8, 8])).shape).toEqual([2, 1, 2, 2]);
  });
});

describe('adversarial losses', () => {
  const real = E.fromArray([2, 0.5, -1, 0], [4], f64);
  const fake = E.fromArray([-2, 0.5, 1, -0.25], [4], f64);

  test('hinge: ½[mean ReLU(1 − D(x)) + mean ReLU(1 + D(x̂))]', () => {
    const expected = 0.5 * ((0 + 0.5 + 2 + 1) / 4 + (0 + 1.5 + 2 + 0.75) / 4);
    expect(hingeDLoss(real, fake).itemSync()).toBeCloseTo(expected, 14);
  });

  test('vanilla: ½[mean softplus(−D(x)) + mean softplus(D(x̂))]; softplus as F.softplus (threshold 20)', () => {
    const sp = (x: number) => Math.log1p(Math.exp(x));
    const expected = 0.5 * ([2, 0.5, -1, 0].reduce((a, r) => a + sp(-r), 0) / 4 + [-2, 0.5, 1, -0.25].reduce((a, f) => a + sp(f), 0) / 4);
    expect(vanillaDLoss(real, fake).itemSync()).toBeCloseTo(expected, 14);
    const x = E.fromArray([-30, 0, 19.5, 20, 25, 800], [6], f64).requiresGrad_();
    const y = softplus(x);
    expect(values(y)).toEqual([-30, 0, 19.5, 20, 25, 800].map((v) => (v > 20 ? v : Math.log(1 + Math.exp(v)))));
    const [g] = E.grad(E.sum(y), [x]);
    const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));
    values(g!).forEach((gi, i) => expect(gi).toBeCloseTo([sigmoid(-30), 0.5, sigmoid(19.5), sigmoid(20), 1, 1][i]!, 14));
  });

  test('generator term −mean(D(x̂)); adopt_weight is 0 before the start step, the weight from it on', () => {
    expect(generatorAdversarialLoss(fake).itemSync()).toBeCloseTo(-(-2 + 0.5 + 1 - 0.25) / 4, 14);
    expect(adoptWeight(1, 5000, 5001)).toBe(0);
    expect(adoptWeight(1, 5001, 5001)).toBe(1);
    expect(adoptWeight(0.5, 0, 0)).toBe(0.5);
  });
});
