import fc from 'fast-check';
import { expect, test } from 'vitest';
import * as E from '../../engine/index.js';
import type { Tensor } from '../../engine/index.js';
import { type Bound, broadcastPairArb, checkGradients, cpuTensor, describeGpu, expectClose, onGpu, oddShapeArb, oracle, transposedLayout } from './helpers.js';

/*
 * Every elementwise kernel on WebGPU against the CPU float64 oracle, forward and backward, on random odd shapes
 * with broadcasting and strided (transposed) inputs. Bounds follow each op's float32 error: exact rounding for
 * + − × and the selections, WGSL's accuracy for the builtins (exp: 3 + 2|x| ulp; log: 2^-21 absolute near 1;
 * division 2.5 ulp), and our own implementations' error for tanh, sigmoid, erf and pow. Backward bounds are
 * a few roundings per chain-rule product, plus one per term that broadcasting sums (see checkGradients).
 */

type Values = { min: number; max: number };

interface UnaryCase {
  fn: (x: Tensor) => Tensor;
  domain: Values;
  /** Forward bound given the input and the oracle's output. */
  bound: (x: Float32Array, y: Float64Array) => Bound;
  /** Backward bound in ulps of the largest gradient entry (absent: not differentiable). */
  gradUlps?: number;
}

const scaled = (f: (x: number, y: number) => number) => (x: Float32Array, y: Float64Array): Bound => ({
  ulps: 1,
  scale: Float64Array.from(y, (v, i) => f(x[i]!, v)),
});

const unary: Record<string, UnaryCase> = {
  neg: { fn: E.neg, domain: { min: -4, max: 4 }, bound: () => ({}), gradUlps: 0 },
  abs: { fn: E.abs, domain: { min: -4, max: 4 }, bound: () => ({}), gradUlps: 0 },
  sign: { fn: E.sign, domain: { min: -4, max: 4 }, bound: () => ({}), gradUlps: 0 },
  floor: { fn: E.floor, domain: { min: -4, max: 4 }, bound: () => ({}) },
  exp: { fn: E.exp, domain: { min: -6, max: 6 }, bound: scaled((x, y) => (3 + 2 * Math.abs(x)) * Math.abs(y)), gradUlps: 32 },
  log: { fn: E.log, domain: { min: 0.05, max: 9 }, bound: () => ({ atol: 2 ** -21, ulps: 3 }), gradUlps: 8 },
  sqrt: { fn: E.sqrt, domain: { min: 0.01, max: 9 }, bound: () => ({ ulps: 5 }), gradUlps: 16 },
  rsqrt: { fn: E.rsqrt, domain: { min: 0.05, max: 9 }, bound: () => ({ ulps: 3 }), gradUlps: 24 },
  // WGSL promises only 2^-11 absolute on [−π, π]; real implementations (lavapipe, NVIDIA) reach ~2^-21.
  sin: { fn: E.sin, domain: { min: -Math.PI, max: Math.PI }, bound: () => ({ atol: 2 ** -18 }), gradUlps: 2 ** 7 },
  cos: { fn: E.cos, domain: { min: -Math.PI, max: Math.PI }, bound: () => ({ atol: 2 ** -18 }), gradUlps: 2 ** 7 },
  tanh: { fn: E.tanh, domain: { min: -6, max: 6 }, bound: () => ({ ulps: 8, atol: 2 ** -26 }), gradUlps: 32 },
  sigmoid: { fn: E.sigmoid, domain: { min: -8, max: 8 }, bound: scaled((x, y) => (6 + 2 * Math.abs(x)) * Math.abs(y)), gradUlps: 48 },
  erf: { fn: E.erf, domain: { min: -4.5, max: 4.5 }, bound: () => ({ atol: 2 ** -22, ulps: 4 }), gradUlps: 48 },
};

interface BinaryCase {
  fn: (a: Tensor, b: Tensor) => Tensor;
  a: Values;
  b: Values;
  bound: (a: Float32Array, b: Float32Array, y: Float64Array) => Bound;
  gradUlps?: number;
}

const exact = () => ({});
const anyValues = { min: -3, max: 3 };

const binary: Record<string, BinaryCase> = {
  add: { fn: E.add, a: anyValues, b: anyValues, bound: exact, gradUlps: 0 },
  sub: { fn: E.sub, a: anyValues, b: anyValues, bound: exact, gradUlps: 0 },
  mul: { fn: E.mul, a: anyValues, b: anyValues, bound: exact, gradUlps: 1 },
  div: { fn: E.div, a: anyValues, b: { min: 0.25, max: 3 }, bound: () => ({ ulps: 3 }), gradUlps: 16 },
  // exp2(b·log2 a): log2 is 2^-21 absolute near 1, so the relative error grows with |b|; exp2 adds 3 + 2|y| ulp.
  pow: {
    fn: E.pow,
    a: { min: 0.1, max: 3 },
    b: { min: -3, max: 3 },
    bound: (a, b, y) => ({ ulps: 1, scale: Float64Array.from(y, (v, i) => Math.abs(v) * (8 + 4 * Math.abs(b[i % b.length]! * Math.log2(a[i % a.length]!)) + 16 * Math.abs(b[i % b.length]!))) }),
    gradUlps: 2 ** 8,
  },
  maximum: { fn: E.maximum, a: anyValues, b: anyValues, bound: exact, gradUlps: 1 },
  minimum: { fn: E.minimum, a: anyValues, b: anyValues, bound: exact, gradUlps: 1 },
  eq: { fn: E.eq, a: anyValues, b: anyValues, bound: exact },
  ne: { fn: E.ne, a: anyValues, b: anyValues, bound: exact },
  lt: { fn: E.lt, a: anyValues, b: anyValues, bound: exact },
  le: { fn: E.le, a: anyValues, b: anyValues, bound: exact },
  gt: { fn: E.gt, a: anyValues, b: anyValues, bound: exact },
  ge: { fn: E.ge, a: anyValues, b: anyValues, bound: exact },
};

/** Values on a coarse grid so that comparisons and maximum/minimum meet ties. */
function withTies(t: Tensor): Tensor {
  return E.fromArray(Float32Array.from(t.toArraySync(), (v) => Math.round(v * 4) / 4), t.shape);
}

const layouts = [(t: Tensor) => t, transposedLayout];

describeGpu('elementwise ops on WebGPU vs the float64 oracle', () => {
  for (const [name, c] of Object.entries(unary)) {
    test(name, async () => {
      await fc.assert(
        fc.asyncProperty(oddShapeArb(), fc.nat(), fc.integer({ min: 0, max: 1 }), async (shape, seed, layout) => {
          const x = cpuTensor(shape, seed, c.domain);
          const want = oracle(c.fn, [x]);
          expectClose(name, await onGpu(c.fn, [x], layouts[layout]), want, c.bound(x.toArraySync() as Float32Array, want));
          if (c.gradUlps !== undefined) await checkGradients(name, c.fn, [x], c.gradUlps, seed + 1);
        }),
        { numRuns: 6 },
      );
    });
  }

  for (const [name, c] of Object.entries(binary)) {
    test(name, async () => {
      await fc.assert(
        fc.asyncProperty(broadcastPairArb({ maxNumel: 2000 }), fc.nat(), fc.integer({ min: 0, max: 1 }), async ([sa, sb], seed, layout) => {
          let a = cpuTensor(sa, seed, c.a);
          let b = cpuTensor(sb, seed + 7, c.b);
          if (c.bound === exact) [a, b] = [withTies(a), withTies(b)];
          const want = oracle(c.fn, [a, b]);
          const bound = c.bound(a.toArraySync() as Float32Array, b.toArraySync() as Float32Array, want);
          expectClose(name, await onGpu(c.fn, [a, b], layouts[layout]), want, bound);
          if (c.gradUlps !== undefined) await checkGradients(name, c.fn, [a, b], c.gradUlps, seed + 1);
        }),
        { numRuns: 6 },
      );
    });
  }

  test('where broadcasts its condition and both branches; its gradient routes to the taken branch', async () => {
    await fc.assert(
      fc.asyncProperty(broadcastPairArb({ maxNumel: 1500 }), fc.nat(), async ([sa, sb], seed) => {
        const cond = E.gt(cpuTensor(sa, seed), 0);
        const a = cpuTensor(sb, seed + 1);
        const b = cpuTensor(sa, seed + 2);
        const fn = (c: Tensor, x: Tensor, y: Tensor) => E.where(c, x, y);
        expectClose('where', await onGpu(fn, [cond, a, b], transposedLayout), oracle(fn, [cond, a, b]));
        await checkGradients('where', fn, [cond, a, b], 0, seed);
      }),
      { numRuns: 6 },
    );
  });

  test('int32: the integer ops, comparisons, where with an int32 condition', async () => {
    const a = E.fromArray([-7, 0, 3, 2147483647, -2147483648, 12], [2, 3], { dtype: 'int32' });
    const b = E.fromArray([2, -5, 3], [3], { dtype: 'int32' });
    for (const fn of [E.add, E.sub, E.mul, E.maximum, E.minimum, E.eq, E.ne, E.lt, E.le, E.gt, E.ge]) {
      const got = await onGpu(fn, [a, b]);
      expect(got).toBeInstanceOf(Int32Array);
      expect(Array.from(got), fn.name).toEqual(Array.from(fn(a, b).toArraySync()));
    }
    for (const fn of [E.neg, E.abs, E.sign]) expect(Array.from(await onGpu(fn, [a])), fn.name).toEqual(Array.from(fn(a).toArraySync()));
    const pick = (c: Tensor, x: Tensor, y: Tensor) => E.where(c, x, y);
    const args = [E.fromArray([1, 0, 5], [3], { dtype: 'int32' }), a, E.neg(a)];
    expect(Array.from(await onGpu(pick, args))).toEqual(Array.from(pick(args[0]!, args[1]!, args[2]!).toArraySync()));
  });

  test('cast between float32 and int32 truncates toward zero, NaN becomes 0; copy keeps values', async () => {
    const x = E.fromArray([-2.75, -0.5, 0, 0.5, 2.999, 1e6 + 0.5, NaN], [7]);
    expect(Array.from(await onGpu((t) => E.cast(t, 'int32'), [x]))).toEqual([-2, 0, 0, 0, 2, 1000000, 0]);
    const i = E.fromArray([-3, 0, 16777216, 5], [4], { dtype: 'int32' });
    const back = await onGpu((t) => E.cast(t, 'float32'), [i]);
    expect(back).toBeInstanceOf(Float32Array);
    expect(Array.from(back)).toEqual([-3, 0, 16777216, 5]);
    const y = cpuTensor([5, 7], 3);
    expect(Array.from(await onGpu(E.clone, [y], transposedLayout))).toEqual(Array.from(y.toArraySync()));
  });

  test('NaN and infinity conventions match the CPU', async () => {
    const x = E.fromArray([NaN, -1, 0, Infinity, -Infinity, 2], [6]);
    for (const fn of [E.log, E.sqrt, E.sign, E.abs, E.neg, E.tanh, E.sigmoid, E.exp, E.rsqrt]) {
      expectClose(fn.name, await onGpu(fn, [x]), oracle(fn, [x]), { ulps: 8 });
    }
    const y = E.fromArray([1, NaN, NaN, 3, -1, 0], [6]);
    for (const fn of [E.maximum, E.minimum, E.pow]) expectClose(fn.name, await onGpu(fn, [x, y]), oracle(fn, [x, y]), { ulps: 8 });
    // pow of a negative base by integer exponents, and 0 to negative or zero powers.
    const base = E.fromArray([-2, -2, -2, 0, 0, -0.5], [6]);
    const expo = E.fromArray([3, 2, 0.5, -1, 0, -3], [6]);
    expectClose('pow', await onGpu(E.pow, [base, expo]), oracle(E.pow, [base, expo]), { ulps: 4 });
  });

  test('large tensors (beyond one row of the dispatch grid) and empty ones', async () => {
    // 2^24 + 387 elements need more than 65535 workgroups of 256 threads: the grid gets a second row.
    const x = E.full([65537 * 2 + 3, 128], 1.5, { backend: 'webgpu' });
    const y = await E.mul(x, E.fromArray([2], [1], { backend: 'webgpu' })).toArray();
    expect(y.length).toBe((65537 * 2 + 3) * 128);
    expect(y.every((v) => v === 3)).toBe(true);
    const empty = E.zeros([0, 3]);
    expect(Array.from(await onGpu((t) => E.add(t, 1), [empty]))).toEqual([]);
  });
});
