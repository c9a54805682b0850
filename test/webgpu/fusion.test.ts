import fc from 'fast-check';
import { afterEach, expect, test } from 'vitest';
import * as E from '../../engine/index.js';
import type { Tensor } from '../../engine/index.js';
import { webgpu } from '../../engine/backends/webgpu/context.js';
import { fusionFromEnv } from '../../engine/backends/webgpu/fusion.js';
import { type MatmulVariant, variantName } from '../../engine/backends/webgpu/matmul-shaders.js';
import { forceMatmulEpilogues, forceMatmulVariant, runsOn } from '../../engine/backends/webgpu/tuning.js';
import { shapesEqual } from '../../engine/shape.js';
import { AdamW, Linear, assign } from '../../nn/index.js';
import { cpuTensor, describeGpu, expectClose, oracle, toGpu } from './helpers.js';

/*
 * Elementwise fusion (engine/backends/webgpu/fusion.ts): chains become one kernel, and no order of reads,
 * writes, disposals and in-place updates changes a value. Random programs are run with fusion on and off on
 * the same device; the two must agree to a few roundings (a compiler may contract a·b + c inside one kernel),
 * where a wrong leaf, stride or stale buffer would be off by whole values.
 */

const fusion = () => webgpu().fusion;

/** Runs `body` with fusion on or off, restoring the setting after. */
async function withFusion<T>(enabled: boolean, body: () => Promise<T>): Promise<T> {
  const before = fusion().enabled;
  await E.webgpuSync();
  fusion().enabled = enabled;
  try {
    return await body();
  } finally {
    await E.webgpuSync();
    fusion().enabled = before;
  }
}

/** Elementwise kernels dispatched while `body` runs and its results are read. */
async function kernelsOf(body: () => Tensor[]): Promise<{ kernels: number; values: Float32Array[] }> {
  const before = fusion().kernels;
  const ys = body();
  const values = (await Promise.all(ys.map((y) => y.toArray()))) as Float32Array[];
  ys.forEach((y) => y.dispose());
  return { kernels: fusion().kernels - before, values };
}

const near = { ulps: 64, atol: 2 ** -20 };

// Matmul epilogues are off on lavapipe by default (tuning.ts); the tests that need them turn them on.
afterEach(() => {
  forceMatmulEpilogues(undefined);
  forceMatmulVariant(undefined);
});

describeGpu('elementwise fusion on WebGPU', () => {
  test('silu(a)·b + c is one kernel, with the values of the op-by-op program', async () => {
    const [a, b, c] = [0, 1, 2].map((s) => cpuTensor([37, 29], s));
    const gpu = [a!, b!, c!].map(toGpu);
    const chain = (x: Tensor, y: Tensor, z: Tensor) => E.add(E.mul(E.silu(x), y), z);
    const fused = await withFusion(true, () => kernelsOf(() => [chain(gpu[0]!, gpu[1]!, gpu[2]!)]));
    const unfused = await withFusion(false, () => kernelsOf(() => [chain(gpu[0]!, gpu[1]!, gpu[2]!)]));
    expect(fused.kernels).toBe(1);
    expect(unfused.kernels).toBe(3);
    expectClose('fused chain', fused.values[0]!, unfused.values[0]!, near);
    expectClose('fused chain vs the f64 oracle', fused.values[0]!, oracle(chain, [a!, b!, c!]), { ulps: 32, atol: 2 ** -22 });
    gpu.forEach((t) => t.dispose());
  });

  test('broadcast and transposed operands, int32 conditions and casts fuse too', async () => {
    const x = toGpu(cpuTensor([5, 7], 3));
    const rowBias = toGpu(cpuTensor([7], 4));
    const colScale = toGpu(cpuTensor([5, 1], 5));
    const xt = E.transpose(toGpu(cpuTensor([7, 5], 6)), 0, 1);
    // Every intermediate has one consumer (a second one would read it from memory, see below).
    const program = () => {
      const y = E.add(E.mul(E.tanh(x), colScale), rowBias);
      const z = E.where(E.gt(xt, 0.25), y, E.neg(xt));
      return [E.clamp(E.cast(E.cast(E.mul(z, 10), 'int32'), 'float32'), -5, 5)];
    };
    const fused = await withFusion(true, () => kernelsOf(program));
    const unfused = await withFusion(false, () => kernelsOf(program));
    expect(fused.kernels).toBe(1);
    expect(unfused.kernels).toBeGreaterThan(8);
    expectClose('mixed chain', fused.values[0]!, unfused.values[0]!, near);
    [x, rowBias, colScale, xt].forEach((t) => t.dispose());
  });

  test('a second consumer reads the value from memory: nothing is computed twice over', async () => {
    const a = toGpu(cpuTensor([300], 7));
    const { kernels, values } = await withFusion(true, () =>
      kernelsOf(() => {
        const shared = E.exp(E.sin(a));
        return [E.add(shared, 1), E.mul(shared, 2), shared];
      }),
    );
    // add inlines exp(sin(a)); mul is its second consumer, so `shared` is computed once and mul reads it.
    expect(kernels).toBe(3);
    const want = Float64Array.from(await a.toArray(), (v) => Math.exp(Math.sin(v)));
    expectClose('second consumer', values[1]!, want.map((v) => 2 * v), { ulps: 16, atol: 2 ** -20 });
    expectClose('first consumer', values[0]!, want.map((v) => v + 1), { ulps: 16, atol: 2 ** -20 });
    a.dispose();
  });

  test('a pending value keeps what it reads: inputs disposed or overwritten before it is computed', async () => {
    await withFusion(true, async () => {
      const x = toGpu(cpuTensor([64], 8));
      const old = await x.toArray();
      const doubled = E.mul(x, 2);
      // Overwriting x in place must not change `doubled`, which was defined on x's old values.
      assign(x, E.fullLike(x, 5));
      const input = toGpu(cpuTensor([64], 9));
      const inputValues = await input.toArray();
      const squared = E.mul(input, input);
      input.dispose();
      expectClose('read after an overwrite', await doubled.toArray(), Float64Array.from(old, (v) => 2 * v));
      expectClose('read after a disposal', await squared.toArray(), Float64Array.from(inputValues, (v) => Math.fround(v * v)));
      expectClose('the overwritten tensor', await x.toArray(), new Float64Array(64).fill(5));
      [x, doubled, squared].forEach((t) => t.dispose());
    });
  });

  test('an in-place update is one kernel that reads its own target, computed when next read (an optimiser moment)', async () => {
    const g = cpuTensor([33, 3], 10);
    const cpuM = E.zeros([33, 3], { dtype: 'float32' });
    const m = toGpu(cpuM);
    const gpuG = toGpu(g);
    await withFusion(true, async () => {
      const before = fusion().kernels;
      for (let step = 0; step < 5; step++) {
        // As in an optimiser's step: the temporaries are disposed before anything reads m again.
        E.scope(() => assign(m, E.add(E.mul(m, 0.9), E.mul(gpuG, 0.1))));
        E.noGrad(() => assign(cpuM, E.add(E.mul(cpuM, 0.9), E.mul(g, 0.1))));
      }
      expectClose('moment after 5 updates', await m.toArray(), cpuM.toArraySync(), near);
      expect(fusion().kernels - before).toBe(5);
    });
    [m, gpuG].forEach((t) => t.dispose());
  });

  test('a disposed pending value is never computed, and what it held goes back to the pool', async () => {
    await withFusion(true, async () => {
      const a = toGpu(cpuTensor([4096], 11));
      await E.webgpuSync();
      const live = E.webgpuMemory().liveBytes;
      const before = fusion().kernels;
      const b = toGpu(cpuTensor([4096], 12));
      const e = E.exp(a);
      const pending = E.mul(e, b);
      e.dispose();
      b.dispose();
      expect(E.webgpuMemory().liveBytes).toBeGreaterThan(live);
      pending.dispose();
      await E.webgpuSync();
      expect(fusion().kernels).toBe(before);
      expect(fusion().pendingCount).toBe(0);
      expect(E.webgpuMemory().liveBytes).toBe(live);
      a.dispose();
    });
  });

  test('long chains and many inputs are split into kernels within the limits', async () => {
    const inputs = Array.from({ length: 20 }, (_, k) => cpuTensor([3, 50], 20 + k, { min: -1, max: 1 }));
    const program = (xs: Tensor[]) => {
      let acc = xs[0]!;
      for (let k = 1; k < xs.length; k++) acc = E.tanh(E.add(E.mul(acc, 0.5), xs[k]!));
      for (let k = 0; k < 40; k++) acc = E.sin(E.add(acc, 0.01));
      return acc;
    };
    const gpu = inputs.map(toGpu);
    const fused = await withFusion(true, () => kernelsOf(() => [program(gpu)]));
    const unfused = await withFusion(false, () => kernelsOf(() => [program(gpu)]));
    expect(fused.kernels).toBeGreaterThan(1);
    expect(fused.kernels).toBeLessThan(unfused.kernels / 5);
    expectClose('long chain', fused.values[0]!, unfused.values[0]!, near);
    gpu.forEach((t) => t.dispose());
  });

  test('a matmul takes the elementwise ops after it as its epilogue: linear, leaky_relu and a residual are one kernel', async () => {
    forceMatmulEpilogues(true);
    const [x, w, b, r] = [[2, 9, 12], [7, 12], [7], [2, 9, 7]].map((s, k) => toGpu(cpuTensor(s, 30 + k)));
    // An activation of few instructions: lavapipe compiles the epilogue once per store site of the kernel.
    const program = () => [E.add(E.leakyRelu(E.linear(x!, w!, b!), 0.1), r!)];
    const fused = await withFusion(true, () => kernelsOf(program));
    const unfused = await withFusion(false, () => kernelsOf(program));
    expect(fused.kernels).toBe(1);
    expectClose('linear → leaky_relu → residual', fused.values[0]!, unfused.values[0]!, near);
    [x, w, b, r].forEach((t) => t!.dispose());
  });

  test('every matmul schedule stores through an epilogue (the GPUs\' ones included), at ragged tile edges', async () => {
    forceMatmulEpilogues(true);
    // K and N multiples of 4, so that 'vec4' runs too; M, batch and N leave partial tiles.
    const [x, w, b] = [[3, 37, 20], [44, 20], [44]].map((s, k) => toGpu(cpuTensor(s, 50 + k)));
    const program = () => [E.relu(E.linear(x!, w!, b!))];
    const unfused = await withFusion(false, () => kernelsOf(program));
    const schedules: MatmulVariant[] = [
      { schedule: 'tiled' },
      { schedule: 'subgroup', rows: 4, cols: 4 },
      { schedule: 'register', rows: 4, cols: 4, wgX: 8, wgY: 8 },
      { schedule: 'vec4', rows: 8, quads: 2, wgX: 8, wgY: 8 },
    ];
    for (const variant of schedules.filter((v) => runsOn(v, webgpu().adapter))) {
      forceMatmulVariant(variant);
      const fused = await withFusion(true, () => kernelsOf(program));
      expect(fused.kernels, variantName(variant)).toBe(1);
      expectClose(`linear → relu (${variantName(variant)})`, fused.values[0]!, unfused.values[0]!, near);
    }
    [x, w, b].forEach((t) => t!.dispose());
  });

  test('an epilogue stores the product too while its tensor lives, and not once it is disposed', async () => {
    forceMatmulEpilogues(true);
    const cpu = [[5, 6], [6, 3]].map((s, k) => cpuTensor(s, 40 + k));
    const want = oracle(E.matmul, cpu);
    const [a, b] = cpu.map(toGpu);
    await withFusion(true, async () => {
      const before = fusion().kernels;
      const product = E.matmul(a!, b!);
      const activated = E.relu(product);
      // Both are read back: one kernel wrote both.
      expectClose('product', await product.toArray(), want, { ulps: 8, atol: 2 ** -20 });
      expectClose('relu(product)', await activated.toArray(), want.map((v) => Math.max(v, 0)), { ulps: 8, atol: 2 ** -20 });
      expect(fusion().kernels - before).toBe(1);
      const dropped = E.matmul(a!, b!);
      const kept = E.neg(dropped);
      dropped.dispose();
      expectClose('neg of a disposed product', await kept.toArray(), want.map((v) => -v), { ulps: 8, atol: 2 ** -20 });
      expect(fusion().kernels - before).toBe(2);
      [product, activated, kept].forEach((t) => t.dispose());
    });
    [a, b].forEach((t) => t!.dispose());
  });

  test('views of pending values (reshape, transpose, slices, cat) read computed values', async () => {
    const a = toGpu(cpuTensor([6, 4], 13));
    const program = () => {
      const y = E.sigmoid(a);
      const t = E.add(E.transpose(y, 0, 1), 1);
      const r = E.mul(E.reshape(E.exp(a), [4, 6]), t);
      return [E.cat([E.relu(a), E.neg(a)], 1), r, E.contiguous(E.narrow(E.abs(a), 0, 2, 3))];
    };
    const fused = await withFusion(true, () => kernelsOf(program));
    const unfused = await withFusion(false, () => kernelsOf(program));
    fused.values.forEach((v, k) => expectClose(`view program output ${k}`, v, unfused.values[k]!, near));
    a.dispose();
  });

  test('random programs: reads, disposals and in-place writes in any order give the values of op-by-op execution', async () => {
    const unary = ['neg', 'abs', 'relu', 'tanh', 'sigmoid', 'silu', 'sin'] as const;
    const binary = ['add', 'sub', 'mul', 'maximum', 'minimum', 'select'] as const;
    const stepArb = fc.oneof(
      fc.record({ kind: fc.constant('unary' as const), op: fc.constantFrom(...unary), a: fc.nat() }),
      fc.record({ kind: fc.constant('binary' as const), op: fc.constantFrom(...binary), a: fc.nat(), b: fc.nat() }),
      fc.record({ kind: fc.constant('read' as const), a: fc.nat() }),
      fc.record({ kind: fc.constant('dispose' as const), a: fc.nat() }),
      fc.record({ kind: fc.constant('assign' as const), a: fc.nat(), b: fc.nat() }),
      fc.record({ kind: fc.constant('matmul' as const), a: fc.nat() }),
    );
    type Step = typeof stepArb extends fc.Arbitrary<infer S> ? S : never;

    /** Runs the program on the current device; returns what it read, in order. */
    const run = async (rows: number, cols: number, seed: number, steps: Step[]): Promise<Float32Array[]> => {
      const shapes = [[rows, cols], [cols], [rows, 1], [rows, cols]];
      const values: (Tensor | undefined)[] = shapes.map((s, k) => toGpu(cpuTensor(s, seed + k)));
      values.push(E.transpose(toGpu(cpuTensor([cols, rows], seed + 9)), 0, 1));
      const square = toGpu(cpuTensor([cols, cols], seed + 10, { min: -0.3, max: 0.3 }));
      const inputs = values.length;
      const pick = (i: number) => {
        const alive = values.filter((v) => v !== undefined);
        return alive[i % alive.length]!;
      };
      const reads: Float32Array[] = [];
      for (const s of steps) {
        if (s.kind === 'unary') values.push(E.noGrad(() => (E[s.op] as (x: Tensor) => Tensor)(pick(s.a))));
        else if (s.kind === 'binary') {
          const [a, b] = [pick(s.a), pick(s.b)];
          values.push(s.op === 'select' ? E.where(E.gt(a, b), a, b) : (E[s.op] as (x: Tensor, y: Tensor) => Tensor)(a, b));
        } else if (s.kind === 'matmul') {
          // A product whose epilogue the following elementwise steps may become.
          const a = pick(s.a);
          if (shapesEqual(a.shape, [rows, cols])) values.push(E.matmul(a, square));
        } else if (s.kind === 'read') reads.push((await pick(s.a).toArray()) as Float32Array);
        else if (s.kind === 'dispose') {
          const alive = values.map((v, k) => (v ? k : -1)).filter((k) => k >= inputs);
          if (alive.length) {
            const k = alive[s.a % alive.length]!;
            values[k]!.dispose();
            values[k] = undefined;
          }
        } else {
          // In place into an input that owns its storage, from any value of its shape.
          const target = values[s.a % 4];
          const source = pick(s.b);
          if (target && shapesEqual(target.shape, source.shape)) assign(target, E.mul(source, 0.5));
        }
      }
      for (const v of values) if (v) reads.push((await v.toArray()) as Float32Array);
      values.forEach((v) => v?.dispose());
      square.dispose();
      return reads;
    };

    const property = fc.asyncProperty(
      fc.integer({ min: 1, max: 9 }),
      fc.integer({ min: 1, max: 70 }),
      fc.nat(1000),
      fc.array(stepArb, { minLength: 1, maxLength: 30 }),
      async (rows, cols, seed, steps) => {
        const fused = await withFusion(true, () => run(rows, cols, seed, steps));
        const unfused = await withFusion(false, () => run(rows, cols, seed, steps));
        expect(fused.length).toBe(unfused.length);
        fused.forEach((v, k) => expectClose(`read ${k}`, v, unfused[k]!, near));
        expect(fusion().pendingCount).toBe(0);
      },
    );
    await fc.assert(property, { numRuns: 40 });
    // With epilogues, every new epilogue is a new matmul shader for lavapipe to compile: fewer runs.
    forceMatmulEpilogues(true);
    await fc.assert(property, { numRuns: 6 });
  });

  test('an optimiser step leaves only the parameters pending, holding no extra parameter-sized buffer', async () => {
    const liveAfterSteps = (enabled: boolean) =>
      withFusion(enabled, async () => {
        E.manualSeed(3);
        const previous = E.getBackend().name;
        E.setBackend('webgpu');
        try {
          const layer = new Linear(64, 64);
          const optimizer = new AdamW(layer.parameters(), { lr: 1e-2 });
          const x = E.randn([8, 64]);
          for (let step = 0; step < 3; step++) {
            E.scope(() => E.mseLoss(layer.forward(x), x).backward());
            optimizer.step();
            optimizer.zeroGrad();
          }
          const live = E.webgpuMemory().liveBytes;
          const pending = fusion().pendingCount;
          for (const t of [...layer.parameters(), ...optimizer.getState().tensors.values(), x]) t.dispose();
          return { live, pending };
        } finally {
          E.setBackend(previous);
        }
      });
    const fused = await liveAfterSteps(true);
    const unfused = await liveAfterSteps(false);
    expect(fused.pending).toBe(2);
    // The moments are computed in their step: what the updates still hold is a few scalars, not a moment or a gradient.
    expect(fused.live - unfused.live).toBeLessThan(64 * 64 * 4);
  });

  test('webgpuSync computes what it is given, or everything pending', async () => {
    await withFusion(true, async () => {
      const a = toGpu(cpuTensor([128], 14));
      const y = E.exp(a);
      const z = E.neg(a);
      await E.webgpuSync(y);
      expect(fusion().pendingCount).toBe(1);
      await E.webgpuSync();
      expect(fusion().pendingCount).toBe(0);
      [a, y, z].forEach((t) => t.dispose());
    });
  });
});

test('ENGINE_FUSION is on by default, and anything but on/off is refused by name', () => {
  expect(fusionFromEnv({})).toBe(true);
  expect(fusionFromEnv({ ENGINE_FUSION: 'OFF' })).toBe(false);
  expect(() => fusionFromEnv({ ENGINE_FUSION: 'maybe' })).toThrow(/ENGINE_FUSION/);
});
