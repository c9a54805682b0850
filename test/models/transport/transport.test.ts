import { describe, expect, test } from 'vitest';
import * as E from '../../../engine/index.js';
import type { Tensor } from '../../../engine/index.js';
import {
  RELEASED_TRANSPORT,
  type ClassConditionalModel,
  dropLabels,
  generate,
  guidedVelocity,
  linearPath,
  logitNormalTimesteps,
  sampleOde,
  sampleTimesteps,
  shiftTime,
  timeGrid,
  trainingLosses,
} from '../../../models/transport/index.js';

/*
 * The rectified-flow pieces on inputs whose answers are known by hand: path, time sampling and grid, the loss,
 * CFG (label dropout and the official 3-channel guidance with its interval), and the samplers end to end.
 */

const f64 = { dtype: 'float64' } as const;

function values(t: Tensor): number[] {
  return Array.from(t.toArraySync());
}

describe('linear path', () => {
  test('x_t = t·x1 + (1 − t)·x0 per sample, u = x1 − x0; t = 0 is noise, t = 1 is data', () => {
    const x0 = E.tensor([[[1, 2]], [[3, 4]], [[5, 6]]], f64);
    const x1 = E.tensor([[[10, 20]], [[30, 40]], [[50, 60]]], f64);
    const { xt, ut } = linearPath(E.tensor([0, 0.25, 1], f64), x0, x1);
    expect(values(xt)).toEqual([1, 2, 0.25 * 30 + 0.75 * 3, 0.25 * 40 + 0.75 * 4, 50, 60]);
    expect(values(ut)).toEqual([9, 18, 27, 36, 45, 54]);
  });
});

describe('time sampling and the sampling grid', () => {
  test('logit-normal t is sigmoid of the normal draws', () => {
    const t = values(logitNormalTimesteps(E.tensor([0, 1, -2.5], f64), 'float64'));
    [0.5, 1 / (1 + Math.exp(-1)), 1 / (1 + Math.exp(2.5))].forEach((v, i) => expect(t[i]).toBeCloseTo(v, 15));
  });

  test('logit-normal t has median 1/2 and the logit-normal(0, 1) spread; uniform t fills [0, 1)', () => {
    const gen = new E.Generator(7);
    const logit = values(sampleTimesteps(4000, 'logit-normal', { generator: gen }));
    const sorted = [...logit].sort((a, b) => a - b);
    expect(sorted[2000]).toBeGreaterThan(0.47);
    expect(sorted[2000]).toBeLessThan(0.53);
    // P(t < sigmoid(−1)) = P(n < −1) ≈ 0.1587.
    expect(logit.filter((t) => t < 1 / (1 + Math.E)).length / 4000).toBeCloseTo(0.1587, 1);
    const uniform = values(sampleTimesteps(4000, 'uniform', { generator: gen }));
    expect(Math.min(...uniform)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...uniform)).toBeLessThan(1);
    expect(uniform.filter((t) => t < 0.25).length / 4000).toBeCloseTo(0.25, 1);
  });

  test('the shift fixes 0 and 1, is the identity at s = 1, and s < 1 crowds the grid towards t = 0', () => {
    expect(shiftTime(0, 0.3)).toBe(0);
    expect(shiftTime(1, 0.3, 'float32')).toBe(1);
    expect(shiftTime(1, 0.3)).toBeCloseTo(1, 15);
    expect(shiftTime(0.37, 1)).toBe(0.37);
    expect(shiftTime(0.5, 0.3)).toBeCloseTo(0.15 / 0.65, 15);
    for (const t of [0.1, 0.5, 0.9]) expect(shiftTime(t, 0.3)).toBeLessThan(t);
  });

  test('numSteps counts grid points, from 0 to 1; shift 0 leaves the grid uniform', () => {
    expect(timeGrid(5, 0, 'float64')).toEqual([0, 0.25, 0.5, 0.75, 1]);
    const shifted = timeGrid(250, 0.3, 'float64');
    expect(shifted).toHaveLength(250);
    expect(shifted[0]).toBe(0);
    expect(shifted[249]).toBeCloseTo(1, 15);
    for (let i = 1; i < 250; i++) expect(shifted[i]).toBeGreaterThan(shifted[i - 1]!);
  });

  test('a float32 grid is rounded like the official float32 arithmetic', () => {
    for (const t of timeGrid(10, 0.3, 'float32')) expect(Math.fround(t)).toBe(t);
    expect(() => timeGrid(1)).toThrow(/grid points/);
  });
});

describe('training loss', () => {
  const x1 = E.tensor([[[[1, 0]], [[0, 2]]], [[[0, -1]], [[3, 1]]]], f64); // [N=2, C=2, H=1, W=2]
  const x0 = E.tensor([[[[0, 1]], [[1, 0]]], [[[1, 1]], [[0, 0]]]], f64);
  const t = E.tensor([0.5, 0.25], f64);
  const y = E.tensor([0, 1], { dtype: 'int32' });

  test('a model that predicts the velocity exactly has zero loss', () => {
    const oracle = (_x: Tensor) => E.sub(x1, x0);
    const terms = trainingLosses(oracle, x1, y, RELEASED_TRANSPORT, { x0, t });
    expect(values(terms.mse)).toEqual([0, 0]);
    for (const c of values(terms.cos!)) expect(c).toBeCloseTo(0, 15);
    expect(terms.loss.itemSync()).toBeCloseTo(0, 15);
  });

  test('MSE per sample over (C, H, W), cosine per pixel along channels averaged over (H, W), summed means', () => {
    const pred = E.tensor([[[[1, 1]], [[0, 1]]], [[[2, 0]], [[0, 3]]]], f64);
    const terms = trainingLosses(() => pred, x1, y, RELEASED_TRANSPORT, { x0, t });
    const u = values(terms.ut);
    const p = values(pred);
    const mse = [0, 1].map((n) => [0, 1, 2, 3].reduce((s, i) => s + (p[4 * n + i]! - u[4 * n + i]!) ** 2, 0) / 4);
    // Pixel (n, w) holds channel values at flat indices 4n + w and 4n + 2 + w.
    const cosine = (n: number, w: number) => {
      const [a0, a1, b0, b1] = [p[4 * n + w]!, p[4 * n + 2 + w]!, u[4 * n + w]!, u[4 * n + 2 + w]!];
      return (a0 * b0 + a1 * b1) / (Math.hypot(a0, a1) * Math.hypot(b0, b1));
    };
    const cos = [0, 1].map((n) => (1 - cosine(n, 0) + (1 - cosine(n, 1))) / 2);
    values(terms.mse).forEach((v, n) => expect(v).toBeCloseTo(mse[n]!, 14));
    values(terms.cos!).forEach((v, n) => expect(v).toBeCloseTo(cos[n]!, 14));
    expect(terms.loss.itemSync()).toBeCloseTo((mse[0]! + mse[1]!) / 2 + (cos[0]! + cos[1]!) / 2, 14);
    const mseOnly = trainingLosses(() => pred, x1, y, { timesteps: 'uniform', cosineLoss: false }, { x0, t });
    expect(mseOnly.cos).toBeUndefined();
    expect(mseOnly.loss.itemSync()).toBeCloseTo((mse[0]! + mse[1]!) / 2, 14);
  });

  test('the model sees x_t and t, and the loss is differentiable in its parameters', () => {
    const w = E.tensor([0.5], f64).requiresGrad_();
    const seen: Tensor[] = [];
    const model = (xt: Tensor, tt: Tensor) => (seen.push(xt, tt), E.mul(xt, w));
    const terms = trainingLosses(model, x1, y, RELEASED_TRANSPORT, { x0, t });
    expect(values(seen[0]!)).toEqual(values(terms.xt));
    expect(values(seen[1]!)).toEqual([0.5, 0.25]);
    const [g] = E.grad(terms.loss, [w]);
    const h = 1e-6;
    const at = (v: number) => trainingLosses((xt) => E.mul(xt, v), x1, y, RELEASED_TRANSPORT, { x0, t }).loss.itemSync();
    expect(g!.itemSync()).toBeCloseTo((at(0.5 + h) - at(0.5 - h)) / (2 * h), 7);
  });

  test('without given draws, noise and logit-normal times are drawn from the generator (reproducibly)', () => {
    const run = () => trainingLosses((xt) => xt, x1, y, RELEASED_TRANSPORT, { generator: new E.Generator(3) });
    const [a, b] = [run(), run()];
    expect(values(a.t)).toEqual(values(b.t));
    expect(values(a.x0)).toEqual(values(b.x0));
    for (const v of values(a.t)) expect(v > 0 && v < 1).toBe(true);
  });
});

describe('classifier-free guidance', () => {
  test('label dropout: p = 0 keeps, p = 1 drops all, p = 0.1 drops about a tenth', () => {
    const labels = E.tensor(Array.from({ length: 2000 }, (_, i) => i % 7), { dtype: 'int32' });
    expect(values(dropLabels(labels, 0, 1000))).toEqual(values(labels));
    expect(values(dropLabels(labels, 1, 1000)).every((v) => v === 1000)).toBe(true);
    const dropped = values(dropLabels(labels, 0.1, 1000, new E.Generator(11)));
    const fraction = dropped.filter((v) => v === 1000).length / 2000;
    expect(fraction).toBeGreaterThan(0.08);
    expect(fraction).toBeLessThan(0.12);
    dropped.forEach((v, i) => expect(v === 1000 || v === i % 7).toBe(true));
  });

  /** A fake model whose velocity is the label on every entry, plus the input (to see which input was used). */
  const labelModel = (x: Tensor, _t: Tensor, y: Tensor) => E.add(x, E.reshape(E.cast(y, 'float64'), [y.shape[0]!, 1, 1, 1]));
  const x = E.cat([E.zeros([2, 5, 1, 1], f64), E.full([2, 5, 1, 1], 100, f64)], 0); // second half must be ignored
  const y = E.tensor([3, 7, 1, 1], { dtype: 'int32' }); // null label 1

  test('guides channels 0–2 only; channels 3.. keep the conditional (first half) / unconditional (second half) output', () => {
    const out = guidedVelocity(labelModel, x, E.full([4], 0.5, f64), y, 4);
    const v = values(out);
    for (const [n, cond] of [[0, 3], [1, 7], [2, 3], [3, 7]] as const) {
      const g = 1 + 4 * (cond - 1);
      expect(v.slice(5 * n, 5 * n + 3)).toEqual([g, g, g]);
    }
    expect(v.slice(3, 5)).toEqual([3, 3]);
    expect(v.slice(8, 10)).toEqual([7, 7]);
    expect(v.slice(13, 15)).toEqual([1, 1]);
    expect(v.slice(18, 20)).toEqual([1, 1]);
  });

  test('the CFG interval: below its start the conditional velocity, from its start on guided', () => {
    const at = (t: number) => values(guidedVelocity(labelModel, x, E.full([4], t, f64), y, 4, { intervalStart: 0.11 }));
    expect(at(0.05).slice(0, 3)).toEqual([3, 3, 3]);
    expect(at(0.05).slice(10, 13)).toEqual([3, 3, 3]);
    expect(at(0.11).slice(0, 3)).toEqual([9, 9, 9]);
    expect(at(0.5).slice(0, 3)).toEqual([9, 9, 9]);
  });

  test("guidedChannels 'all' is standard CFG on every channel", () => {
    const v = values(guidedVelocity(labelModel, x, E.full([4], 0.5, f64), y, 4, { guidedChannels: 'all' }));
    expect(v.slice(0, 5)).toEqual([9, 9, 9, 9, 9]);
    expect(v.slice(15, 20)).toEqual([25, 25, 25, 25, 25]);
  });

  test('an odd batch is refused', () => {
    expect(() => guidedVelocity(labelModel, E.zeros([3, 5, 1, 1], f64), E.zeros([3], f64), y, 2)).toThrow(/halves/);
  });
});

describe('sampling', () => {
  /** v(x, t) = a constant velocity per sample: the exact ODE solution is x0 + v. */
  const constantModel: ClassConditionalModel = {
    nullLabel: 9,
    forward: (x, _t, y) => E.add(E.zerosLike(x), E.reshape(E.cast(y, 'float64'), [y.shape[0]!, 1, 1, 1])),
    forwardWithCfg(x, t, y, scale, opts) {
      return guidedVelocity(this.forward, x, t, y, scale, opts);
    },
  };

  test('sampleOde integrates from t = 0 to t = 1 over numSteps grid points', () => {
    const ts: number[] = [];
    const trajectory = sampleOde((x, t) => (ts.push(t.toArraySync()[0]!), E.mul(E.onesLike(x), 2)), E.zeros([2, 3], f64), { method: 'euler', numSteps: 5, shift: 0.3 });
    expect(trajectory).toHaveLength(5);
    expect(ts).toEqual(timeGrid(5, 0.3, 'float64').slice(0, 4));
    values(trajectory[4]!).forEach((v) => expect(v).toBeCloseTo(2, 14));
  });

  test('generate without guidance follows the conditional velocity', () => {
    const z = E.zeros([2, 4, 1, 1], f64);
    const { samples } = generate(constantModel, z, E.tensor([2, 5], { dtype: 'int32' }), { method: 'euler', numSteps: 4, cfgScale: 1 });
    expect(values(samples)).toEqual([2, 2, 2, 2, 5, 5, 5, 5]);
  });

  test('generate with guidance doubles the state, guides channels 0–2 with the null label, keeps the first half', () => {
    const z = E.zeros([2, 4, 1, 1], f64);
    const { samples, trajectory } = generate(constantModel, z, E.tensor([2, 5], { dtype: 'int32' }), { method: 'heun2', numSteps: 3, cfgScale: 3 });
    expect(trajectory[0]!.shape).toEqual([4, 4, 1, 1]);
    // Guided: 9 + 3·(y − 9) on channels 0–2, the conditional y on channel 3.
    expect(values(samples)).toEqual([-12, -12, -12, 2, -3, -3, -3, 5]);
  });

  test('with a CFG interval, guidance starts at the shifted t ≥ intervalStart', () => {
    const z = E.zeros([1, 4, 1, 1], f64);
    const grid = timeGrid(4, 0.3, 'float64');
    const { samples } = generate(constantModel, z, E.tensor([2], { dtype: 'int32' }), { method: 'euler', numSteps: 4, shift: 0.3, cfgScale: 3, intervalStart: grid[1]! });
    // The first Euler step (from t = 0 < start) is unguided; the others are guided.
    const guided = (grid[3]! - grid[1]!) * (9 + 3 * (2 - 9)) + grid[1]! * 2;
    values(samples).slice(0, 3).forEach((v) => expect(v).toBeCloseTo(guided, 14));
    expect(values(samples)[3]).toBeCloseTo(2, 14);
  });
});
