import { describe, expect, test } from 'vitest';
import { type DType, type Tensor, fromArray, liveTensors, mul, scope, sum } from '../../engine/index.js';
import { parseSafetensors, serializeSafetensors } from '../../engine/safetensors.js';
import { Adam, AdamW, Linear, SGD, parameter } from '../../nn/index.js';
import type { Optimizer } from '../../nn/index.js';

/*
 * Reference numbers: PyTorch's update formulas (torch.optim.SGD / Adam / AdamW, single-tensor path) evaluated by
 * hand, or for the longer Adam runs with a float64 calculator, step by step, from θ0 = [1, −2] and the fixed
 * gradients below. The derivations are written next to each case.
 */
const THETA0 = [1, -2];
const GRADS = [
  [0.5, -1],
  [-0.25, 2],
  [1, 0.5],
];

const values = (t: Tensor) => Array.from(t.toArraySync());

/** Runs `steps` optimiser steps on one parameter with the fixed gradients; returns θ after each step. */
function run(make: (p: Tensor) => Optimizer<object>, steps: number, dtype: DType = 'float64'): number[][] {
  const p = parameter(fromArray(THETA0, [2], { dtype }));
  const opt = make(p);
  const out: number[][] = [];
  for (let s = 0; s < steps; s++) {
    p.grad = fromArray(GRADS[s]!, [2], { dtype });
    opt.step();
    out.push(values(p));
  }
  return out;
}

function expectClose(actual: number[][], expected: number[][], digits = 14): void {
  expect(actual.length).toBe(expected.length);
  actual.forEach((row, s) => row.forEach((v, i) => expect(v, `step ${s + 1}, element ${i}`).toBeCloseTo(expected[s]![i]!, digits)));
}

describe('SGD', () => {
  test('plain: θ ← θ − lr·g', () => {
    // 1 − 0.1·0.5 = 0.95, −2 + 0.1·1 = −1.9; then 0.95 + 0.025 = 0.975, −1.9 − 0.2 = −2.1
    expectClose(run((p) => new SGD([p], { lr: 0.1 }), 2), [[0.95, -1.9], [0.975, -2.1]]);
  });

  test('momentum 0.9 with weight decay 0.1', () => {
    // g = [0.5, −1] both steps (here the gradient is proportional to θ0, so the second element is −2× the first).
    // step 1: d = g + 0.1·θ = [0.6, −1.2]; b = d; θ = θ − 0.1·b = [0.94, −1.88]
    // step 2: d = [0.5 + 0.094, −1 − 0.188] = [0.594, −1.188]; b = 0.9·[0.6, −1.2] + d = [1.134, −2.268];
    //         θ = [0.94 − 0.1134, −1.88 + 0.2268] = [0.8266, −1.6532]
    const p = parameter(fromArray(THETA0, [2], { dtype: 'float64' }));
    const opt = new SGD([p], { lr: 0.1, momentum: 0.9, weightDecay: 0.1 });
    const got: number[][] = [];
    for (let s = 0; s < 2; s++) {
      p.grad = fromArray([0.5, -1], [2], { dtype: 'float64' });
      opt.step();
      got.push(values(p));
    }
    expectClose(got, [[0.94, -1.88], [0.8266, -1.6532]]);
  });

  test('Nesterov momentum 0.9 with weight decay 0.1', () => {
    // step 1: d = [0.6, −1.2]; b = d; d ← d + 0.9·b = [1.14, −2.28]; θ = [0.886, −1.772]
    // step 2: d = [0.5886, −1.1772]; b = 0.9·0.6 + 0.5886 = 1.1286 (×[1, −2]); d ← 0.5886 + 0.9·1.1286 = 1.60434;
    //         θ = 0.886 − 0.160434 = 0.725566 (×[1, −2])
    const p = parameter(fromArray(THETA0, [2], { dtype: 'float64' }));
    const opt = new SGD([p], { lr: 0.1, momentum: 0.9, weightDecay: 0.1, nesterov: true });
    const got: number[][] = [];
    for (let s = 0; s < 2; s++) {
      p.grad = fromArray([0.5, -1], [2], { dtype: 'float64' });
      opt.step();
      got.push(values(p));
    }
    expectClose(got, [[0.886, -1.772], [0.725566, -1.451132]]);
  });

  test('dampening applies from the second step (the first buffer is the gradient itself)', () => {
    // step 1: b = g = 0.5 → θ = 0.95; step 2 (g = −0.25): b = 0.9·0.5 + 0.5·(−0.25) = 0.325 → θ = 0.95 − 0.0325 = 0.9175
    const got = run((p) => new SGD([p], { lr: 0.1, momentum: 0.9, dampening: 0.5 }), 2).map((r) => [r[0]!]);
    expectClose(got, [[0.95], [0.9175]]);
  });

  test('invalid hyper-parameters are refused', () => {
    const p = parameter(fromArray([1]));
    expect(() => new SGD([p], { lr: -1 })).toThrow(/invalid learning rate -1/);
    expect(() => new SGD([p], { lr: 0.1, nesterov: true })).toThrow(/Nesterov/);
    expect(() => new SGD([p, p], { lr: 0.1 })).toThrow(/appears more than once/);
  });
});

describe('Adam and AdamW', () => {
  // Step 1 of every Adam run: m̂ = g and v̂ = g², so θ1 = θ0 − lr·g/(|g| + ε):
  // 1 − 0.1·0.5/(0.5 + 1e−8) = 0.900000002 and −2 + 0.1·1/(1 + 1e−8) = −1.900000001.
  // Step 2, element 0: m = 0.9·0.05 + 0.1·(−0.25) = 0.02, v = 0.999·0.00025 + 0.001·0.0625 = 0.00031225,
  // θ2 = θ1 − (0.1/0.19)·0.02/(√0.00031225/√0.001999 + 1e−8) = 0.8733662987078463.
  const ADAM = [
    [0.900000002, -1.900000001],
    [0.8733662987078463, -1.9366103534720749],
    [0.8075551396770898, -1.9781754731467738],
  ];

  test('Adam (PyTorch defaults but lr 0.1): bias-corrected moments', () => {
    expectClose(run((p) => new Adam([p], { lr: 0.1 }), 3), ADAM);
  });

  test('Adam with L2 weight decay 0.1 adds λθ to the gradient', () => {
    // step 1: g' = [0.5 + 0.1, −1 − 0.2] = [0.6, −1.2]; θ1 = 1 − 0.1·0.6/(0.6 + 1e−8) = 0.9000000016666666
    expectClose(run((p) => new Adam([p], { lr: 0.1, weightDecay: 0.1 }), 3), [
      [0.9000000016666666, -1.9000000008333333],
      [0.8544413674617625, -1.9250178784643248],
      [0.7815043998631659, -1.953127270691488],
    ]);
  });

  test('AdamW decays θ by (1 − lr·λ) before the Adam step', () => {
    // step 1: θ·0.99 = [0.99, −1.98], then the same Adam step as above: [0.890000002, −1.880000001]
    expectClose(run((p) => new AdamW([p], { lr: 0.1, weightDecay: 0.1 }), 3), [
      [0.890000002, -1.880000001],
      [0.8544662986878463, -1.897810353462075],
      [0.7801104766702113, -1.920397369602153],
    ]);
  });

  test('AdamW defaults are PyTorch’s: betas (0.9, 0.999), eps 1e-8, weight decay 0.01', () => {
    const opt = new AdamW([parameter(fromArray([1]))]);
    expect(opt.paramGroups[0]).toMatchObject({ lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.01 });
  });

  test('the released LightningDiT setting: AdamW lr 2e-4, betas (0.9, 0.95), no weight decay', () => {
    expectClose(run((p) => new AdamW([p], { lr: 2e-4, betas: [0.9, 0.95], weightDecay: 0 }), 3), [
      [0.999800000004, -1.999800000002],
      [0.9997463261157516, -1.9998726747916393],
      [0.9996165771309905, -1.9999561288678958],
    ]);
  });

  test('float32 parameters follow the float64 reference to float32 precision', () => {
    expectClose(run((p) => new Adam([p], { lr: 0.1 }), 3, 'float32'), ADAM, 6);
  });
});

describe('optimiser mechanics', () => {
  test('a step updates the parameter object in place, records no graph, and leaks no tensors', () => {
    const lin = new Linear(3, 2);
    const opt = new AdamW(lin.parameters(), { lr: 0.01 });
    const weight = lin.weight;
    const storage = weight.storage;
    const x = fromArray([1, -1, 2, 0.5, 0, 1], [2, 3]);
    const trainStep = () => {
      opt.zeroGrad();
      scope(() => sum(mul(lin.forward(x), lin.forward(x))).backward());
      opt.step();
    };
    trainStep();
    const live = liveTensors().length;
    // What outlives a step is the same set every time: parameters, gradients and optimiser state.
    for (let i = 0; i < 3; i++) {
      trainStep();
      expect(liveTensors().length).toBe(live);
    }
    expect(lin.weight).toBe(weight);
    expect(weight.storage).toBe(storage);
    expect(weight.isLeaf && weight.requiresGrad).toBe(true);
    const state = opt.getState();
    for (const t of state.tensors.values()) expect(t.requiresGrad || t.gradFn !== null).toBe(false);
  });

  test('parameters without a gradient are left alone and get no state', () => {
    const a = parameter(fromArray([1]));
    const b = parameter(fromArray([2]));
    const opt = new SGD([a, b], { lr: 1, momentum: 0.5 });
    a.grad = fromArray([1]);
    opt.step();
    expect([values(a), values(b)]).toEqual([[0], [2]]);
    expect([...opt.getState().tensors.keys()]).toEqual(['state.0.momentum_buffer']);
  });

  test('parameter groups override the defaults', () => {
    const a = parameter(fromArray([1]));
    const b = parameter(fromArray([1]));
    const opt = new SGD([{ params: [a] }, { params: [b], lr: 0.5 }], { lr: 0.1 });
    a.grad = fromArray([1]);
    b.grad = fromArray([1]);
    opt.step();
    expect([values(a)[0], values(b)[0]]).toEqual([Math.fround(0.9), 0.5]);
  });

  test('state survives a checkpoint through safetensors: a restored optimiser continues identically', async () => {
    const make = (p: Tensor) => new AdamW([p], { lr: 0.1, weightDecay: 0.1 });
    const p = parameter(fromArray(THETA0, [2], { dtype: 'float64' }));
    const opt = make(p);
    for (let s = 0; s < 2; s++) {
      p.grad = fromArray(GRADS[s]!, [2], { dtype: 'float64' });
      opt.step();
    }
    const { tensors, meta } = opt.getState();
    expect([...tensors.keys()]).toEqual(['state.0.exp_avg', 'state.0.exp_avg_sq']);
    expect(meta).toEqual({ paramGroups: [{ lr: 0.1, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.1, params: [0] }], steps: { 0: 2 } });
    const file = parseSafetensors(await serializeSafetensors(tensors, { metadata: { optimizer: JSON.stringify(meta) } }));

    const q = parameter(fromArray(values(p), [2], { dtype: 'float64' }));
    const restored = make(q);
    restored.paramGroups[0]!.lr = 123; // overwritten by the checkpoint
    restored.setState({ tensors: file.tensors, meta: JSON.parse(file.metadata.optimizer!) });
    for (const [param, o] of [[p, opt], [q, restored]] as const) {
      param.grad = fromArray(GRADS[2]!, [2], { dtype: 'float64' });
      o.step();
    }
    expect(values(q)).toEqual(values(p));
    expect(values(q)[0]).toBeCloseTo(0.7801104766702113, 14);
  });

  test('setState refuses a checkpoint for other parameters', () => {
    const a = parameter(fromArray([1, 2]));
    const opt = new SGD([a], { lr: 0.1, momentum: 0.9 });
    a.grad = fromArray([1, 1]);
    opt.step();
    const state = opt.getState();
    const other = new SGD([parameter(fromArray([1, 2, 3]))], { lr: 0.1, momentum: 0.9 });
    expect(() => other.setState(state)).toThrow(/'state\.0\.momentum_buffer' has shape \[2\], the parameter \[3\]/);
    const two = new SGD([parameter(fromArray([1])), parameter(fromArray([1]))], { lr: 0.1 });
    expect(() => two.setState(state)).toThrow(/groups of 1 parameters, this optimiser 2/);
  });
});
