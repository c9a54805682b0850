import { expect, test } from 'vitest';
import * as E from '../../engine/index.js';
import { philox } from '../../engine/random.js';
import { normalFromWords } from '../../engine/random-normal.js';
import { describeGpu } from './helpers.js';

/*
 * Random numbers on WebGPU against engine/random.ts: uniform, normal and randint bit for bit against the CPU;
 * normal also against `normalFromWords` (the integer Box–Muller both backends use), which is itself within a few
 * ulps of exact Box–Muller; randint also against the exact integer formula. Seeds and offsets above 2^32 check the carries of the 64-bit counter and key.
 */

function words(seed: number, counter: number): Uint32Array {
  const w = new Uint32Array(4);
  philox(counter >>> 0, Math.floor(counter / 2 ** 32) >>> 0, 0, 0, seed >>> 0, Math.floor(seed / 2 ** 32) >>> 0, w);
  return w;
}

/** The draw's position crosses 2^32, so the counter's low word wraps inside it. */
const SEED = 2 ** 40 + 12345;
const OFFSET = 2 ** 32 - 700;

function bitsEqual(a: ArrayLike<number>, b: ArrayLike<number>): void {
  expect(a.length).toBe(b.length);
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) expect.fail(`element ${i}: ${a[i]} vs ${b[i]}`);
}

test('normalFromWords is within 4 ulps of exact Box–Muller, and exactly 0 at u1 = 1', () => {
  let worst = 0;
  for (let i = 0; i < 20000; i++) {
    const w = words(7, i);
    const z = normalFromWords(w[0]!, w[1]!);
    const u1 = ((w[0]! >>> 8) + 1) * 2 ** -24;
    const u2 = (w[1]! >>> 8) * 2 ** -24;
    const exact = Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
    // Relative to the value, floored at the spacing of float32 near 1e-3 (cos near its zeros).
    worst = Math.max(worst, Math.abs(z - exact) / Math.max(Math.abs(exact), 1e-3) / 2 ** -24);
  }
  expect(worst).toBeLessThan(4);
  expect(normalFromWords(0xffffffff, 123 << 8)).toBe(0);
  // The quadrant boundaries of the cosine: 1, 0, −1, 0 at u2 = 0, ¼, ½, ¾ (u1 chosen so that the radius is 1).
  const radiusOne = Math.round(Math.exp(-0.5) * 2 ** 24) - 1;
  const r = normalFromWords(radiusOne << 8, 0);
  expect(Math.abs(r - 1)).toBeLessThan(1e-6);
  expect(normalFromWords(radiusOne << 8, 0x800000 << 8)).toBeCloseTo(-r, 12);
  expect(Math.abs(normalFromWords(radiusOne << 8, 0x400000 << 8))).toBe(0);
});

describeGpu('random', () => {
  test('rand, randn and randint are bit-identical to the CPU', async () => {
    for (const [shape, make] of [
      [[1000, 3], (o: E.RandomOptions) => E.rand([1000, 3], o)],
      [[4099], (o: E.RandomOptions) => E.randn([4099], o)],
      [[300], (o: E.RandomOptions) => E.randint(-(2 ** 31), 2 ** 31, [300], o)],
      [[777], (o: E.RandomOptions) => E.randint(-5, 1000, [777], o)],
      [[5, 7], (o: E.RandomOptions) => E.randint(0, 2 ** 20, [5, 7], { ...o, dtype: 'float32' })],
    ] as const) {
      const cpu = make({ generator: new E.Generator(SEED, OFFSET) }).toArraySync();
      const gpu = await make({ backend: 'webgpu', generator: new E.Generator(SEED, OFFSET) }).toArray();
      expect(gpu.length).toBe(shape.reduce((a, b) => a * b, 1));
      bitsEqual(gpu, cpu);
    }
  });

  test('randn is bit-identical to normalFromWords on the same Philox words', async () => {
    const n = 5000;
    const gpu = await E.randn([n], { backend: 'webgpu', generator: new E.Generator(SEED, OFFSET) }).toArray();
    const want = Array.from({ length: n }, (_, i) => {
      const w = words(SEED, OFFSET + i);
      return normalFromWords(w[0]!, w[1]!);
    });
    bitsEqual(gpu, want);
  });

  test('draws advance the generator as on the CPU', async () => {
    E.manualSeed(99);
    const a = await E.rand([10], { backend: 'webgpu' }).toArray();
    const b = await E.rand([10], { backend: 'webgpu' }).toArray();
    E.manualSeed(99);
    bitsEqual(a, E.rand([10]).toArraySync());
    bitsEqual(b, E.rand([10]).toArraySync());
  });

  test('randint over a range as wide as 2^32 is ⌊w·range / 2^32⌋ + low, exactly', async () => {
    const n = 300;
    for (const [low, high] of [[-(2 ** 31), 2 ** 31], [-3, 2 ** 31 - 7]] as const) {
      const got = await E.randint(low, high, [n], { backend: 'webgpu', generator: new E.Generator(SEED, OFFSET) }).toArray();
      const want = Array.from({ length: n }, (_, i) => {
        const w = BigInt(words(SEED, OFFSET + i)[0]!);
        return low + Number((w * BigInt(high - low)) >> 32n);
      });
      expect(Array.from(got)).toEqual(want);
    }
    expect(() => E.randint(0, 2 ** 25, [3], { backend: 'webgpu', dtype: 'float32' })).toThrow(/2\^24/);
  });

  test('full fills f32 and i32 tensors, including odd sizes past one workgroup', async () => {
    expect(Array.from(await E.full([3, 100], -2.5, { backend: 'webgpu' }).toArray()).every((v) => v === -2.5)).toBe(true);
    const ints = await E.full([257], -7, { backend: 'webgpu', dtype: 'int32' }).toArray();
    expect(ints).toBeInstanceOf(Int32Array);
    expect(Array.from(ints).every((v) => v === -7)).toBe(true);
    expect(Array.from(await E.zeros([0], { backend: 'webgpu' }).toArray())).toEqual([]);
  });
});
