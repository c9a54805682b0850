import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import * as E from '../../engine/index.js';
import type { Tensor } from '../../engine/index.js';
import { type GpuJsBackend, destroyGpuJs, gpuJsModeFromEnv, gpuJsOps, initGpuJs } from '../../engine/backends/gpujs/backend.js';
import { assign } from '../../nn/inplace.js';
import { broadcastPairArb, shapeArb } from '../helpers/arbitraries.js';
import { type Bound, availableModes, cpuTensor, expectClose, offsetLayout, onGpuJs, oracle, toGpuJs, transposedLayout } from './helpers.js';

/*
 * The gpu.js backend against the CPU float64 oracle, in every gpu.js mode that runs here: each op with a gpu.js
 * kernel on random odd shapes, with broadcasting, strided inputs and inputs at an offset; the CPU fallback of the other ops and of
 * non-float32 tensors, and its report; the mode report. Bounds are float32 error bounds: exact rounding for
 * + − × and selections, a few ulps for WGSL's builtins (exp 3 + 2|x| ulp, log 2^-21 absolute near 1, division
 * 2.5 ulp), and for sums and products the standard bound on Σ|terms|.
 */

const modes = await availableModes();

/** Webgpu compiles a shader per new shape on lavapipe, so it gets fewer cases than the JavaScript modes. */
const runsFor = { cpu: 12, webasm: 8, webgpu: 4 } as const;

type Values = { min: number; max: number };

const unary: Record<string, { fn: (x: Tensor) => Tensor; domain: Values; bound: Bound }> = {
  neg: { fn: E.neg, domain: { min: -4, max: 4 }, bound: {} },
  abs: { fn: E.abs, domain: { min: -4, max: 4 }, bound: {} },
  sign: { fn: E.sign, domain: { min: -4, max: 4 }, bound: {} },
  floor: { fn: E.floor, domain: { min: -4, max: 4 }, bound: {} },
  copy: { fn: E.contiguous, domain: { min: -4, max: 4 }, bound: {} },
  exp: { fn: E.exp, domain: { min: -4, max: 4 }, bound: { ulps: 16 } },
  log: { fn: E.log, domain: { min: 0.05, max: 9 }, bound: { atol: 2 ** -21, ulps: 3 } },
  sqrt: { fn: E.sqrt, domain: { min: 0.01, max: 9 }, bound: { ulps: 5 } },
  rsqrt: { fn: E.rsqrt, domain: { min: 0.05, max: 9 }, bound: { ulps: 8 } },
  sin: { fn: E.sin, domain: { min: -Math.PI, max: Math.PI }, bound: { atol: 2 ** -18 } },
  cos: { fn: E.cos, domain: { min: -Math.PI, max: Math.PI }, bound: { atol: 2 ** -18 } },
  tanh: { fn: E.tanh, domain: { min: -5, max: 5 }, bound: { ulps: 16, atol: 2 ** -22 } },
  sigmoid: { fn: E.sigmoid, domain: { min: -8, max: 8 }, bound: { ulps: 24 } },
};

const anyValues = { min: -3, max: 3 };
const binary: Record<string, { fn: (a: Tensor, b: Tensor) => Tensor; b: Values; bound: Bound }> = {
  add: { fn: E.add, b: anyValues, bound: {} },
  sub: { fn: E.sub, b: anyValues, bound: {} },
  mul: { fn: E.mul, b: anyValues, bound: {} },
  div: { fn: E.div, b: { min: 0.25, max: 3 }, bound: { ulps: 3 } },
  maximum: { fn: E.maximum, b: anyValues, bound: {} },
  minimum: { fn: E.minimum, b: anyValues, bound: {} },
  eq: { fn: E.eq, b: anyValues, bound: {} },
  ne: { fn: E.ne, b: anyValues, bound: {} },
  lt: { fn: E.lt, b: anyValues, bound: {} },
  le: { fn: E.le, b: anyValues, bound: {} },
  gt: { fn: E.gt, b: anyValues, bound: {} },
  ge: { fn: E.ge, b: anyValues, bound: {} },
};

const oddShape = shapeArb({ minRank: 0, maxRank: 4, maxSide: 7, maxNumel: 400 });
const seed = fc.integer({ min: 1, max: 2 ** 31 - 1 });
/** How inputs are laid out on the backend: as uploaded, transposed in storage, or at an offset in a larger storage. */
const layout = fc.constantFrom<(t: Tensor) => Tensor>((t) => t, transposedLayout, offsetLayout);

test('every op with a gpu.js kernel has a parity property here', () => {
  const covered = [...Object.keys(unary), ...Object.keys(binary), 'sum', 'amax', 'amin', 'matmul', 'conv2d'];
  expect(gpuJsOps().sort()).toEqual(covered.sort());
});

test('GPUJS_MODE chooses the mode: cpu by default, a gpu.js name otherwise, anything else refused', () => {
  expect(gpuJsModeFromEnv({})).toBe('cpu');
  expect(gpuJsModeFromEnv({ GPUJS_MODE: 'WebGPU' })).toBe('webgpu');
  expect(() => gpuJsModeFromEnv({ GPUJS_MODE: 'headlessgl' })).toThrow(/GPUJS_MODE must be one of cpu, webasm, webgpu, not 'headlessgl'/);
});

describe.each(modes)('gpu.js mode %s', (mode) => {
  let backend: GpuJsBackend;
  const numRuns = runsFor[mode];
  beforeAll(async () => {
    backend = await initGpuJs(mode);
  });
  afterAll(async () => {
    await destroyGpuJs();
  });

  test('reports its mode, and reads synchronously only where gpu.js answers synchronously', async () => {
    expect(backend.mode).toBe(mode);
    expect(E.getBackend('gpujs')).toBe(backend);
    expect(backend.summary()).toMatch(new RegExp(`^gpujs \\(gpu.js mode '${mode}', \\d+ kernels compiled\\): `));
    const y = E.exp(toGpuJs(cpuTensor([3], 1)));
    if (mode === 'webgpu') expect(() => y.toArraySync()).toThrow(/reads asynchronously/);
    else expect(y.toArraySync()).toEqual(await y.toArray());
  });

  test('one kernel called at two sizes before either result is read gives both results right', async () => {
    const small = cpuTensor([5], 2);
    const large = cpuTensor([3, 40], 3);
    const [y1, y2] = [E.exp(toGpuJs(large)), E.exp(toGpuJs(small))];
    expectClose('exp large', await y1.toArray(), oracle(E.exp, [large]), { ulps: 16 });
    expectClose('exp small', await y2.toArray(), oracle(E.exp, [small]), { ulps: 16 });
  });

  test('an in-place write lands after the ops issued before it have read the old values', async () => {
    const x = toGpuJs(cpuTensor([6], 8));
    const parameter = toGpuJs(cpuTensor([6], 9));
    const before = Float64Array.from(await parameter.toArray());
    // In webgpu mode exp is still running when add is issued, so add waits, and must still see the old values.
    const y = E.add(E.exp(x), parameter);
    assign(parameter, E.zerosLike(parameter));
    const want = Float64Array.from(await x.toArray(), (v, i) => Math.exp(v) + before[i]!);
    expectClose('exp(x) + parameter before the write', await y.toArray(), want, { ulps: 16 });
    expect(Array.from(await parameter.toArray())).toEqual([0, 0, 0, 0, 0, 0]);
  });

  test.each(Object.keys(unary))('%s matches the oracle on dense, strided and offset inputs', async (op) => {
    const { fn, domain, bound } = unary[op]!;
    await fc.assert(
      fc.asyncProperty(oddShape, seed, layout, async (shape, s, place) => {
        const x = cpuTensor(shape, s, domain);
        const got = await onGpuJs(fn, [x], place);
        expectClose(`${op}${JSON.stringify(shape)}`, got, oracle(fn, [x]), bound);
      }),
      { numRuns },
    );
  });

  test.each(Object.keys(binary))('%s matches the oracle with broadcasting', async (op) => {
    const { fn, b: bValues, bound } = binary[op]!;
    const pairs = broadcastPairArb({ maxRank: 4, maxSide: 7, maxNumel: 400 });
    await fc.assert(
      fc.asyncProperty(pairs, seed, layout, async ([sa, sb], s, place) => {
        const a = cpuTensor(sa, s, anyValues);
        // Equal values in places, so that the comparisons see ties.
        const b = s % 3 === 0 && sa.join() === sb.join() ? a : cpuTensor(sb, s + 1, bValues);
        const got = await onGpuJs(fn, [a, b], place);
        expectClose(`${op}${JSON.stringify([sa, sb])}`, got, oracle(fn, [a, b]), bound);
      }),
      { numRuns },
    );
  });

  const reductions = { sum: E.sum, amax: E.amax, amin: E.amin };
  test.each(Object.keys(reductions))('%s over any dims matches the oracle', async (op) => {
    const reduce = reductions[op as keyof typeof reductions];
    const cases = shapeArb({ minRank: 1, maxRank: 4, maxSide: 9, maxNumel: 600 }).chain((shape) =>
      fc.tuple(fc.constant(shape), fc.subarray(shape.map((_, d) => d), { minLength: 1 }), fc.boolean(), seed, layout),
    );
    await fc.assert(
      fc.asyncProperty(cases, async ([shape, dims, keepdim, s, place]) => {
        const x = cpuTensor(shape, s);
        const fn = (t: Tensor) => reduce(t, dims, keepdim);
        const got = await onGpuJs(fn, [x], place);
        // A float32 sum of n terms is off by at most n roundings of Σ|terms|; extrema are exact.
        const bound = op === 'sum' ? { ulps: x.size, scale: oracle((t) => E.sum(E.abs(t), dims, keepdim), [x]) } : {};
        expectClose(`${op}${JSON.stringify([shape, dims])}`, got, oracle(fn, [x]), bound);
      }),
      { numRuns },
    );
  });

  test('matmul with broadcast batch dims and transposed operands matches the oracle', async () => {
    const cases = fc.tuple(
      broadcastPairArb({ maxRank: 2, maxSide: 3 }),
      fc.integer({ min: 1, max: 17 }),
      fc.integer({ min: 1, max: 17 }),
      fc.integer({ min: 1, max: 17 }),
      seed,
      layout,
    );
    await fc.assert(
      fc.asyncProperty(cases, async ([[batchA, batchB], m, k, n, s, place]) => {
        const a = cpuTensor([...batchA, m, k], s);
        const b = cpuTensor([...batchB, k, n], s + 1);
        const got = await onGpuJs(E.matmul, [a, b], place);
        const scale = oracle((x, y) => E.matmul(E.abs(x), E.abs(y)), [a, b]);
        expectClose(`matmul ${JSON.stringify([a.shape, b.shape])}`, got, oracle(E.matmul, [a, b]), { ulps: 2 * k + 2, scale });
      }),
      { numRuns },
    );
  });

  test('conv2d with stride, padding, dilation and groups matches the oracle', async () => {
    const cases = fc
      .record({
        batch: fc.integer({ min: 1, max: 2 }),
        groups: fc.integer({ min: 1, max: 2 }),
        groupChannels: fc.integer({ min: 1, max: 3 }),
        groupOutChannels: fc.integer({ min: 1, max: 3 }),
        height: fc.integer({ min: 1, max: 9 }),
        width: fc.integer({ min: 1, max: 9 }),
        kh: fc.integer({ min: 1, max: 3 }),
        kw: fc.integer({ min: 1, max: 3 }),
        stride: fc.tuple(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 2 })),
        padding: fc.tuple(fc.nat(2), fc.nat(2), fc.nat(2), fc.nat(2)),
        dilation: fc.tuple(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 2 })),
        seed,
      })
      .filter((g) => g.height + g.padding[0] + g.padding[1] > g.dilation[0] * (g.kh - 1) && g.width + g.padding[2] + g.padding[3] > g.dilation[1] * (g.kw - 1));
    await fc.assert(
      fc.asyncProperty(cases, async (g) => {
        const x = cpuTensor([g.batch, g.groups * g.groupChannels, g.height, g.width], g.seed);
        const w = cpuTensor([g.groups * g.groupOutChannels, g.groupChannels, g.kh, g.kw], g.seed + 1);
        const opts = { stride: g.stride, padding: g.padding, dilation: g.dilation, groups: g.groups };
        const conv = (image: Tensor, weight: Tensor) => E.conv2d(image, weight, null, opts);
        const got = await onGpuJs(conv, [x, w]);
        const scale = oracle((image, weight) => conv(E.abs(image), E.abs(weight)), [x, w]);
        const taps = g.groupChannels * g.kh * g.kw;
        expectClose(`conv2d ${JSON.stringify(g)}`, got, oracle(conv, [x, w]), { ulps: 2 * taps + 2, scale });
      }),
      { numRuns },
    );
  });

  test('loops longer than the default gpu.js cap of 1000 iterations run in full', async () => {
    const x = cpuTensor([3, 1500], 21);
    const a = cpuTensor([2, 1200], 22);
    const b = cpuTensor([1200, 3], 23);
    const rowSums = (t: Tensor) => E.sum(t, 1);
    expectClose('sum of 1500', await onGpuJs(rowSums, [x]), oracle(rowSums, [x]), { ulps: 1500, scale: oracle((t) => rowSums(E.abs(t)), [x]) });
    expectClose('matmul k=1200', await onGpuJs(E.matmul, [a, b]), oracle(E.matmul, [a, b]), { ulps: 2402, scale: oracle((p, q) => E.matmul(E.abs(p), E.abs(q)), [a, b]) });
  });

  test('a view into a storage of more than 2^24 elements falls back, since gpu.js indexes in f32', async () => {
    const big = E.zeros([2 ** 24 + 1], { backend: 'gpujs' });
    backend.resetFallbacks();
    const y = E.exp(E.narrow(big, 0, 2 ** 24 - 3, 4));
    expect(Array.from(await y.toArray())).toEqual([1, 1, 1, 1]);
    expect(backend.fallbacks()).toEqual(new Map([['exp', { count: 1, byReason: { 'over 2^24 elements': 1 } }]]));
    big.dispose();
  });

  test('softmax, a composite, runs on the gpu.js kernels of its parts', async () => {
    const x = cpuTensor([5, 33], 7, { min: -6, max: 6 });
    backend.resetFallbacks();
    const got = await onGpuJs((t) => E.softmax(t, 1), [x]);
    expectClose('softmax', got, oracle((t) => E.softmax(t, 1), [x]), { ulps: 32 });
  });

  test('an op without a gpu.js kernel falls back to the CPU kernel, and the backend reports it', async () => {
    backend.resetFallbacks();
    const cond = cpuTensor([4, 5], 3);
    const a = cpuTensor([4, 5], 4);
    const b = cpuTensor([5], 5);
    const pick = (c: Tensor, x: Tensor, y: Tensor) => E.where(E.gt(c, 0), E.exp(x), y);
    const got = await onGpuJs(pick, [cond, a, b]);
    expectClose('where(gt, exp, b)', got, oracle(pick, [cond, a, b]), { ulps: 16 });
    expect(backend.fallbacks()).toEqual(new Map([['where', { count: 1, byReason: { 'no gpu.js kernel': 1 } }]]));
    expect(backend.summary()).toMatch(/: 2 kernel calls on gpu.js, 1 on the CPU: where ×1 \(no gpu.js kernel\)$/);
  });

  test('float64 and int32 tensors fall back to the CPU even for ops with a gpu.js kernel, and are reported', async () => {
    backend.resetFallbacks();
    const x = E.fromArray([0.1, 0.2, 0.3], [3], { backend: 'gpujs', dtype: 'float64' });
    const i = E.fromArray([1, 2, 3], [3], { backend: 'gpujs', dtype: 'int32' });
    expect(Array.from(await E.add(x, x).toArray())).toEqual([0.2, 0.4, 0.6]);
    expect(Array.from(await E.mul(i, i).toArray())).toEqual([1, 4, 9]);
    expect(backend.fallbacks()).toEqual(
      new Map([
        ['add', { count: 1, byReason: { float64: 1 } }],
        ['mul', { count: 1, byReason: { int32: 1 } }],
      ]),
    );
  });

  test('gradients through conv2d and matmul match the oracle; conv2d gradients and the seed fill run on the CPU', async () => {
    backend.resetFallbacks();
    const x = cpuTensor([2, 3, 6, 5], 11);
    const w = cpuTensor([4, 3, 3, 3], 12);
    const v = cpuTensor([5, 2], 13);
    const loss = (image: Tensor, weight: Tensor, proj: Tensor) => E.sum(E.tanh(E.matmul(E.conv2d(image, weight, null, { padding: 1 }), proj)));
    const gradients = (xs: Tensor[]) => {
      const leaves = xs.map((t) => t.requiresGrad_());
      return E.grad([loss(leaves[0]!, leaves[1]!, leaves[2]!)], leaves);
    };
    const want = gradients([x, w, v].map((t) => E.cast(t, 'float64'))).map((g) => Float64Array.from(g.toArraySync()));
    const got = await Promise.all(gradients([x, w, v].map(toGpuJs)).map((g) => g.toArray()));
    want.forEach((wg, k) => {
      const scale = Math.max(...Array.from(wg, Math.abs));
      expectClose(`gradient ${k}`, got[k]!, wg, { atol: 2 ** -14 * scale });
    });
    expect([...backend.fallbacks().keys()].sort()).toEqual(['conv2d_input_grad', 'conv2d_weight_grad', 'full']);
  });
});
