import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import * as E from '../../engine/index.js';
import type { Backend, Tensor } from '../../engine/index.js';
import type { Kernel } from '../../engine/backend.js';
import { typedArrayFor } from '../../engine/dtype.js';
import { erf } from '../../engine/backends/cpu/math.js';
import { type CpuStorage, dataOf, makeCpuStorage } from '../../engine/backends/cpu/storage.js';
import { shapeArb, tensorArb } from '../helpers/arbitraries.js';

const f64 = (values: number[], shape?: number[]) => E.fromArray(values, shape, { dtype: 'float64' });
const leaf = (values: number[], shape?: number[]) => E.fromArray(values, shape, { dtype: 'float64', requiresGrad: true });
const values = (t: Tensor) => Array.from(t.toArraySync());

describe('.grad accumulation', () => {
  test('backward adds into .grad across calls (2×), and a cleared .grad starts again', () => {
    const x = leaf([1, 2, 3]);
    const loss = () => E.sum(E.mul(x, x));
    loss().backward();
    expect(values(x.grad!)).toEqual([2, 4, 6]);
    loss().backward();
    expect(values(x.grad!)).toEqual([4, 8, 12]);
    x.grad = null;
    loss().backward();
    expect(values(x.grad!)).toEqual([2, 4, 6]);
  });

  test('the gradient that a sum replaces is freed, also for a persistent leaf (a parameter)', () => {
    const x = leaf([1, 2, 3]);
    x.persistent = true;
    E.sum(E.mul(x, x)).backward();
    const first = x.grad!;
    expect(first.persistent).toBe(true);
    E.sum(E.mul(x, x)).backward();
    expect(first.disposed).toBe(true);
    expect(x.grad!.persistent).toBe(true);
    expect(values(x.grad!)).toEqual([4, 8, 12]);
  });

  test('non-leaf tensors get no .grad', () => {
    const x = leaf([1, 2]);
    const h = E.mul(x, 2);
    E.sum(h).backward();
    expect(h.grad).toBeNull();
    expect(values(x.grad!)).toEqual([2, 2]);
  });

  test('each .grad is a tensor of its own: none is another leaf\'s, or the seed (P5)', () => {
    const a = leaf([1, 2]);
    const b = leaf([3, 4]);
    const seed = f64([5, 6]);
    E.add(a, b).backward(seed);
    expect(a.grad).not.toBe(b.grad);
    expect(a.grad).not.toBe(seed);
    a.grad!.dispose();
    expect(values(b.grad!)).toEqual([5, 6]);
    expect(values(seed)).toEqual([5, 6]);
    const [ga, gb] = E.grad(E.add(a, b), [a, b], [seed]);
    expect(ga).not.toBe(gb);
    expect(ga).not.toBe(seed);
  });

  test('backward needs a gradient for a non-scalar output, of the output\'s shape', () => {
    const x = leaf([1, 2]);
    expect(() => E.mul(x, 2).backward()).toThrow(E.OpInputError);
    expect(() => E.mul(x, 2).backward(f64([1, 2, 3]))).toThrow(/gradient shape \[3\] does not match output shape \[2\]/);
    expect(() => f64([1]).backward()).toThrow(/does not require grad/);
  });
});

describe('recording', () => {
  test('detach cuts the graph: the detached branch contributes nothing', () => {
    const x = leaf([3]);
    const y = E.add(E.mul(x, x), E.mul(E.detach(x), x));
    y.backward();
    expect(values(x.grad!)).toEqual([2 * 3 + 3]);
  });

  test('noGrad records nothing; enableGrad records inside it', () => {
    const x = leaf([1]);
    const y = E.noGrad(() => E.mul(x, 2));
    expect(y.requiresGrad).toBe(false);
    expect(y.gradFn).toBeNull();
    const z = E.noGrad(() => E.enableGrad(() => E.mul(x, 2)));
    expect(z.requiresGrad).toBe(true);
    expect(E.isGradEnabled()).toBe(true);
    expect(() => E.noGrad(async () => 1)).toThrow(/synchronous/);
  });

  test('only float tensors can require gradients', () => {
    expect(() => E.fromArray([1], [1], { dtype: 'int32', requiresGrad: true })).toThrow(/only float tensors/);
  });
});

describe('retainGraph', () => {
  test('a second backward through a freed graph throws a clear error', () => {
    const x = leaf([2]);
    const y = E.exp(x);
    y.backward();
    expect(() => y.backward()).toThrow(/graph through 'exp' was already freed by an earlier backward; pass retainGraph: true/);
  });

  test('with retainGraph the second backward runs, adds 2×, and is bitwise equal to the first (P4)', () => {
    const x = leaf([0.3, -1.7]);
    const y = E.sum(E.tanh(E.mul(E.exp(x), x)));
    y.backward(undefined, { retainGraph: true });
    const first = values(x.grad!);
    y.backward();
    expect(values(x.grad!)).toEqual(first.map((g) => 2 * g));
  });
});

describe('graph shapes', () => {
  test('diamond: a tensor used twice gets the sum of both paths', () => {
    const x = leaf([3]);
    const b = E.mul(x, 2);
    const y = E.add(E.mul(b, b), b);
    y.backward();
    // y = 4x² + 2x → y′ = 8x + 2
    expect(values(x.grad!)).toEqual([26]);
  });

  test('a chain of 20000 ops runs backward without overflowing the stack', () => {
    const x = leaf([1.5]);
    let y = x;
    for (let i = 0; i < 20000; i++) y = i % 2 ? E.add(y, 1) : E.mul(y, 1);
    expect(values(y)).toEqual([10001.5]);
    y.backward();
    expect(values(x.grad!)).toEqual([1]);
    const h = leaf([0.5]);
    let z = h;
    for (let i = 0; i < 20000; i++) z = E.neg(z);
    expect(values(E.grad(E.sum(z), [h])[0]!)).toEqual([1]);
  });

  test('grad() with respect to an intermediate tensor, and to a leaf and an intermediate together', () => {
    const x = leaf([1, 2]);
    const h = E.mul(x, 3);
    const y = E.sum(E.mul(h, h));
    const [gh, gx] = E.grad(y, [h, x], undefined, { retainGraph: true });
    expect(values(gh!)).toEqual([6, 12]);
    expect(values(gx!)).toEqual([18, 36]);
    // The intermediate alone: the sweep stops there.
    expect(values(E.grad(y, [h])[0]!)).toEqual([6, 12]);
  });

  test('allowUnused: an input the outputs do not depend on is an error, or zeros when allowed', () => {
    const x = leaf([1]);
    const unused = leaf([5, 6]);
    expect(() => E.grad(E.mul(x, 2), [x, unused], [f64([1])])).toThrow(/input 1 of shape \[2\] was not used/);
    const [gx, gu] = E.grad(E.mul(x, 2), [x, unused], [f64([1])], { allowUnused: true });
    expect(values(gx!)).toEqual([2]);
    expect(values(gu!)).toEqual([0, 0]);
  });
});

describe('higher order', () => {
  test('third derivative of sin is −cos', () => {
    const xs = [-2, -0.5, 0, 1, 2.5];
    const x = leaf(xs);
    const [d1] = E.grad(E.sum(E.sin(x)), [x], undefined, { createGraph: true });
    const [d2] = E.grad(E.sum(d1!), [x], undefined, { createGraph: true });
    const [d3] = E.grad(E.sum(d2!), [x]);
    expect(values(d1!)).toEqual(xs.map(Math.cos));
    expect(values(d2!)).toEqual(xs.map((v) => -Math.sin(v)));
    expect(values(d3!)).toEqual(xs.map((v) => -Math.cos(v)));
  });

  test('hvp of the quadratic form ½·xᵀAx (A symmetric) is A·v', () => {
    const A = f64([2, -1, 0.5, -1, 3, 0.25, 0.5, 0.25, 1], [3, 3]);
    const quadratic = (x: Tensor) => E.mul(E.sum(E.mul(x, E.sum(E.mul(A, E.unsqueeze(x, 0)), 1))), 0.5);
    const v = f64([1, -2, 0.5]);
    const [hv] = E.hvp(quadratic, [f64([0.3, 0.7, -1.1])], [v]);
    expect(values(hv!)).toEqual([2 * 1 + -1 * -2 + 0.5 * 0.5, -1 * 1 + 3 * -2 + 0.25 * 0.5, 0.5 * 1 + 0.25 * -2 + 1 * 0.5]);
  });

  test('jvp equals central differences, and ⟨v, J·u⟩ = ⟨Jᵀ·v, u⟩', () => {
    const fn = (x: Tensor) => E.mul(E.sin(x), E.exp(E.mul(x, 0.5)));
    fc.assert(
      fc.property(shapeArb({ minRank: 1 }).chain((s) => fc.tuple(tensorArb(s), tensorArb(s), tensorArb(s))), ([x, u, v]) => {
        const { tangents } = E.jvp(fn, [x], [u]);
        const h = 2 ** -17;
        const fd = E.div(E.sub(fn(E.add(x, E.mul(u, h))), fn(E.sub(x, E.mul(u, h)))), 2 * h);
        const ju = values(tangents[0]!);
        values(fd).forEach((d, i) => expect(Math.abs(d - ju[i]!)).toBeLessThanOrEqual(1e-8 * Math.max(1, Math.abs(d))));
        const [jtv] = E.vjp(fn, [x]).pullback([v]);
        const left = E.sum(E.mul(v, tangents[0]!)).itemSync();
        const right = E.sum(E.mul(jtv!, u)).itemSync();
        expect(Math.abs(left - right)).toBeLessThanOrEqual(1e-13 * Math.max(1, Math.abs(left)));
      }),
    );
  });

  test('the pullback is linear in the cotangent, and zero for a zero cotangent (P2)', () => {
    const x = f64([0.5, -1, 2]);
    const { pullback } = E.vjp((t) => E.mul(E.tanh(t), t), [x]);
    const v = f64([1, 2, -1]);
    const w = f64([0.5, -0.25, 3]);
    const [pv] = pullback([v]);
    const [pw] = pullback([w]);
    const [pvw] = pullback([E.add(E.mul(v, 2), E.mul(w, -3))]);
    values(pvw!).forEach((g, i) => expect(Math.abs(g - (2 * values(pv!)[i]! - 3 * values(pw!)[i]!))).toBeLessThanOrEqual(1e-15 * 8));
    expect(values(pullback([f64([0, 0, 0])])[0]!).every((g) => g === 0)).toBe(true);
  });

  test('a composite op through vjp: softmax pulls v back to y ⊙ (v − ⟨v, y⟩)', () => {
    const x = f64([0.5, -1, 2, 0]);
    const v = f64([1, -2, 0.5, 3]);
    const { outputs, pullback } = E.vjp((t) => E.softmax(t), [x]);
    const y = values(outputs[0]!);
    const dot = y.reduce((acc, yi, i) => acc + yi * values(v)[i]!, 0);
    const [g] = pullback([v]);
    values(g!).forEach((gi, i) => expect(Math.abs(gi - y[i]! * (values(v)[i]! - dot))).toBeLessThanOrEqual(4 * Number.EPSILON));
  });
});

describe('a composite run as a fused kernel', () => {
  /** The CPU backend, except that 'gelu' runs as one fused kernel (counted). */
  let fusedCalls = 0;
  const fusedGelu: Kernel = ([x], [out]) => {
    fusedCalls++;
    const src = dataOf(x!);
    const dst = dataOf(out!);
    for (let i = 0; i < dst.length; i++) {
      const v = src[x!.offset + i]!;
      dst[i] = 0.5 * v * (1 + erf(v * Math.SQRT1_2));
    }
  };
  const cpu = E.getBackend('cpu');
  const fused: Backend = {
    name: 'cpu-with-fused-gelu',
    alloc: (dtype, length) => makeCpuStorage(fused, dtype, typedArrayFor(dtype, length)),
    release: () => undefined,
    upload: (data) => makeCpuStorage(fused, data instanceof Float64Array ? 'float64' : data instanceof Int32Array ? 'int32' : 'float32', data),
    read: async (storage, offset, length) => (storage as CpuStorage).data.slice(offset, offset + length),
    readSync: (storage, offset, length) => (storage as CpuStorage).data.slice(offset, offset + length),
    kernel: (op) => (op === 'gelu' ? fusedGelu : cpu.kernel(op)),
  };
  E.registerBackend(fused);

  test('runs the kernel forward, and differentiates the composite definition, to every order', () => {
    const xs = [-1.5, -0.25, 0.5, 2];
    const onFused = E.fromArray(xs, [4], { dtype: 'float64', backend: fused, requiresGrad: true });
    const onCpu = leaf(xs);
    const before = fusedCalls;
    const yFused = E.gelu(onFused);
    expect(fusedCalls).toBe(before + 1);
    expect(yFused.gradFn?.op.name).toBe('gelu');
    const yCpu = E.gelu(onCpu);
    values(yFused).forEach((y, i) => expect(Math.abs(y - values(yCpu)[i]!)).toBeLessThanOrEqual(2 * Number.EPSILON));

    const [g1Fused] = E.grad(E.sum(yFused), [onFused], undefined, { createGraph: true });
    const [g1Cpu] = E.grad(E.sum(yCpu), [onCpu], undefined, { createGraph: true });
    expect(values(g1Fused!)).toEqual(values(g1Cpu!));
    const [g2Fused] = E.grad(E.sum(g1Fused!), [onFused]);
    const [g2Cpu] = E.grad(E.sum(g1Cpu!), [onCpu]);
    expect(values(g2Fused!)).toEqual(values(g2Cpu!));
  });
});

describe('anomaly mode', () => {
  test('names the op whose forward produced NaN', () => {
    expect(() => E.detectAnomaly(() => E.log(f64([1, -1])))).toThrow(/anomaly: log \(forward\) produced NaN at flat index 1 of an output of shape \[2\]/);
    expect(values(E.log(f64([-1])))).toEqual([NaN]);
  });

  test('names the op whose backward produced ∞ (sqrt at 0), not the ops inside its rule', () => {
    const x = leaf([0, 4]);
    const y = E.sum(E.sqrt(x));
    expect(() => E.detectAnomaly(() => y.backward())).toThrow(/anomaly: sqrt \(backward\) produced Infinity at flat index 0/);
  });

  test('setAnomalyMode switches the checks on and off', () => {
    E.setAnomalyMode(true);
    try {
      expect(() => E.div(f64([1]), f64([0]))).toThrow(E.AnomalyError);
    } finally {
      E.setAnomalyMode(false);
    }
    expect(values(E.div(f64([1]), f64([0])))).toEqual([Infinity]);
  });
});
