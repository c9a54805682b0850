import fc from 'fast-check';
import { afterAll, describe, expect, vi } from 'vitest';
import * as E from '../../engine/index.js';
import type { Tensor } from '../../engine/index.js';
import { destroyWebGPU, initWebGPU } from '../../engine/backends/webgpu/device.js';
import { numel } from '../../engine/shape.js';
import { U, cpuTensor, seededValues } from '../helpers/seeded.js';

export { U, cpuTensor, seededValues };

/**
 * Shared by the WebGPU tests: the device (opened once per test file), moving tensors across, and comparison with
 * the CPU float64 oracle under per-op error bounds.
 *
 * Without an adapter the tests skip with a message when run locally, but fail under CI=true: a CI machine is
 * set up with lavapipe (scripts/install-lavapipe.sh), so a missing adapter there is a broken setup, never a
 * reason to pass.
 */

async function openDevice(): Promise<boolean> {
  try {
    await initWebGPU({ verbose: false });
    return true;
  } catch (e) {
    if (process.env.CI === 'true') throw e;
    console.warn(`WebGPU tests skipped: ${(e as Error).message}`);
    return false;
  }
}

export const gpuReady = await openDevice();

// lavapipe compiles each new shader with LLVM on first use (up to ~10 s for the matmul kernels, with nothing in
// Mesa's shader cache, as on a fresh CI machine), so GPU tests get more time than the CPU suite's defaults.
vi.setConfig({ testTimeout: 600_000 });
fc.configureGlobal({ ...fc.readConfigureGlobal(), interruptAfterTimeLimit: 600_000 });

afterAll(async () => {
  await destroyWebGPU();
});

/** `describe`, skipped only where no adapter exists outside CI. */
export const describeGpu: typeof describe = gpuReady ? describe : (describe.skip as typeof describe);

/** A copy of a CPU tensor on WebGPU (float64 values become float32). */
export function toGpu(t: Tensor): Tensor {
  const dtype = t.dtype === 'float64' ? 'float32' : t.dtype;
  return E.fromArray(t.toArraySync(), t.shape, { backend: 'webgpu', dtype });
}

/** The float64 CPU twin of a float32 (or int32) CPU tensor: same values, for the oracle. */
export function to64(t: Tensor): Tensor {
  return t.dtype === 'float32' ? E.cast(t, 'float64') : t;
}

/**
 * Error bound per element: |got − want| ≤ atol + ulps·u·scale, where scale is |want| unless given (sums and
 * products pass the oracle applied to |inputs|, the standard bound's Σ|terms|).
 */
export interface Bound {
  ulps?: number;
  atol?: number;
  scale?: ArrayLike<number>;
}

export function expectClose(what: string, got: ArrayLike<number>, want: ArrayLike<number>, bound: Bound = {}): void {
  expect(got.length, `${what}: length`).toBe(want.length);
  const { ulps = 0, atol = 0, scale } = bound;
  for (let i = 0; i < want.length; i++) {
    const w = want[i]!;
    const g = got[i]!;
    if (Number.isNaN(w)) {
      if (!Number.isNaN(g)) expect.fail(`${what}[${i}]: got ${g}, want NaN`);
      continue;
    }
    if (!Number.isFinite(w)) {
      if (g !== w) expect.fail(`${what}[${i}]: got ${g}, want ${w}`);
      continue;
    }
    const tol = atol + ulps * U * Math.abs(scale ? scale[i]! : w);
    // A float32 result can only be as close as the rounding of the exact value: half an ulp always passes.
    const rounding = Math.abs(Math.fround(w) - w);
    if (!(Math.abs(g - w) <= Math.max(tol, rounding))) {
      expect.fail(`${what}[${i}]: got ${g}, want ${w} (|error| ${Math.abs(g - w)} > bound ${tol})`);
    }
  }
}

/** Shapes of rank 0–4 with odd sides (so tiles and workgroups have ragged edges), at most `maxNumel` elements. */
export function oddShapeArb({ minRank = 0, maxRank = 4, maxNumel = 3000 } = {}): fc.Arbitrary<number[]> {
  return fc
    .array(fc.constantFrom(1, 2, 3, 5, 7, 11, 13, 17, 33, 65), { minLength: minRank, maxLength: maxRank })
    .filter((s) => numel(s) <= maxNumel);
}

/** Two shapes that broadcast: one dim of either side may be 1, and the second may lack leading dims. */
export function broadcastPairArb(opts: Parameters<typeof oddShapeArb>[0] = {}): fc.Arbitrary<[number[], number[]]> {
  return oddShapeArb(opts).chain((full) =>
    fc
      .tuple(fc.array(fc.integer({ min: 0, max: 2 }), { minLength: full.length, maxLength: full.length }), fc.integer({ min: 0, max: full.length }))
      .map(([which, drop]): [number[], number[]] => {
        const a = full.map((s, i) => (which[i] === 1 ? 1 : s));
        const b = full.map((s, i) => (which[i] === 2 ? 1 : s)).slice(drop);
        return [a, b];
      }),
  );
}

/**
 * The same values laid out differently: a tensor with the values of `t` that is a strided view (the last two
 * dims stored transposed), so kernels that read strides are exercised.
 */
export function transposedLayout(t: Tensor): Tensor {
  if (t.rank < 2) return t;
  const stored = E.contiguous(E.transpose(t, -1, -2));
  return E.transpose(stored, -1, -2);
}

/** The oracle: `fn` on the float64 CPU twins of the inputs, as a flat array. */
export function oracle(fn: (...xs: Tensor[]) => Tensor, inputs: readonly Tensor[]): Float64Array {
  return Float64Array.from(fn(...inputs.map(to64)).toArraySync());
}

/** `fn` on WebGPU copies of the inputs (each input's layout is kept: `layout` may make views of them). */
export async function onGpu(fn: (...xs: Tensor[]) => Tensor, inputs: readonly Tensor[], layout: (t: Tensor) => Tensor = (t) => t): Promise<ArrayLike<number>> {
  return E.scope(async () => fn(...inputs.map((x) => layout(toGpu(x)))).toArray());
}

/**
 * Gradients of Σ fn(xs)·cotangent with respect to every float input, as flat arrays: on the CPU in float64
 * (the oracle), and on WebGPU in float32.
 */
export async function gradients(
  fn: (...xs: Tensor[]) => Tensor,
  inputs: readonly Tensor[],
  cotangentSeed: number,
): Promise<{ want: Float64Array[]; got: ArrayLike<number>[]; cotangent: Tensor }> {
  const isFloat = (t: Tensor) => t.dtype !== 'int32';
  const run = (xs: Tensor[], g: Tensor) => {
    const leaves = xs.map((x) => (isFloat(x) ? x.requiresGrad_() : x));
    const y = fn(...leaves);
    return E.grad([y], leaves.filter(isFloat), [g], { allowUnused: true });
  };
  const shape = E.noGrad(() => fn(...inputs.map(to64)).shape);
  const cot = cpuTensor(shape, cotangentSeed);
  const want = run(inputs.map((x) => E.detach(to64(x))), to64(cot)).map((g) => Float64Array.from(g.toArraySync()));
  const got = await E.scope(async () => {
    const gs = run(inputs.map((x) => toGpu(x)), toGpu(cot));
    return Promise.all(gs.map((g) => g.toArray()));
  });
  return { want, got, cotangent: cot };
}

/**
 * Checks the gradients of `fn` on WebGPU against the oracle. Each gradient entry is a sum of `r` chain-rule
 * products (r = how many output elements an input element fed, through broadcasting), each off by `ulps`
 * roundings of the problem's scale, so the bound is (ulps + r)·u·scale, the scale being the largest of the
 * gradients, the cotangent times the inputs.
 */
export async function checkGradients(name: string, fn: (...xs: Tensor[]) => Tensor, inputs: Tensor[], ulps: number, seed: number): Promise<void> {
  const { want, got, cotangent } = await gradients(fn, inputs, seed);
  const maxAbs = (a: ArrayLike<number>) => Math.max(0, ...Array.from(a, Math.abs));
  const inputScale = Math.max(1, ...inputs.map((x) => maxAbs(x.toArraySync())));
  const floats = inputs.filter((x) => x.dtype !== 'int32');
  want.forEach((w, i) => {
    const r = cotangent.size / Math.max(1, floats[i]!.size);
    const scale = Math.max(maxAbs(w), maxAbs(cotangent.toArraySync()) * inputScale);
    expectClose(`${name} gradient ${i}`, got[i]!, w, { atol: (ulps + r) * U * scale });
  });
}
