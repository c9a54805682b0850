import { expect } from 'vitest';
import * as E from '../../engine/index.js';
import type { Tensor } from '../../engine/index.js';
import { destroyGpuJs, initGpuJs } from '../../engine/backends/gpujs/backend.js';
import type { GpuJsMode } from '../../engine/backends/gpujs/runtime.js';
import { U, cpuTensor, seededValues } from '../helpers/seeded.js';

export { U, cpuTensor, seededValues };

/**
 * Shared by the gpu.js tests: which gpu.js modes can run here, moving tensors onto the 'gpujs' backend, and
 * comparing with the CPU float64 oracle under per-op error bounds.
 */

/**
 * The modes to test: 'cpu' and 'webasm' run anywhere; 'webgpu' needs an adapter (lavapipe on a machine without
 * a GPU). Without one it is skipped with a message locally but fails under CI=true, where lavapipe is set up.
 */
export async function availableModes(): Promise<GpuJsMode[]> {
  const modes: GpuJsMode[] = ['cpu', 'webasm'];
  try {
    await initGpuJs('webgpu');
    modes.push('webgpu');
  } catch (e) {
    if (process.env.CI === 'true') throw e;
    console.warn(`gpu.js webgpu mode skipped: ${(e as Error).message}`);
  } finally {
    await destroyGpuJs();
  }
  return modes;
}

/** A copy of a CPU tensor on the gpu.js backend, in the tensor's own dtype. */
export function toGpuJs(t: Tensor): Tensor {
  return E.fromArray(t.toArraySync(), t.shape, { backend: 'gpujs', dtype: t.dtype });
}

/** The same values stored with the last two dims transposed: a strided view, to exercise kernels that read strides. */
export function transposedLayout(t: Tensor): Tensor {
  if (t.rank < 2) return t;
  return E.transpose(E.contiguous(E.transpose(t, -1, -2)), -1, -2);
}

/**
 * The same values as the tail of a larger storage: a contiguous view at a non-zero offset, so that kernels must
 * honour offsets, and one compiled kernel sees arguments of different lengths.
 */
export function offsetLayout(t: Tensor): Tensor {
  const flat = t.flatten();
  const padded = E.cat([E.zerosLike(flat), flat], 0);
  return E.reshape(E.narrow(padded, 0, t.size, t.size), t.shape);
}

/** `fn` on the float64 CPU twins of the inputs, flat: the oracle. */
export function oracle(fn: (...xs: Tensor[]) => Tensor, inputs: readonly Tensor[]): Float64Array {
  return Float64Array.from(fn(...inputs.map((x) => (x.dtype === 'float32' ? E.cast(x, 'float64') : x))).toArraySync());
}

/** `fn` on gpu.js copies of the inputs (`layout` may turn each copy into a strided view), flat. */
export async function onGpuJs(fn: (...xs: Tensor[]) => Tensor, inputs: readonly Tensor[], layout: (t: Tensor) => Tensor = (t) => t): Promise<ArrayLike<number>> {
  const result = E.scope(() => fn(...inputs.map((x) => layout(toGpuJs(x)))));
  const values = await result.toArray();
  result.dispose();
  return values;
}

/**
 * Error bound per element: |got − want| ≤ atol + ulps·u·scale, scale being |want| unless given (sums and
 * products pass the oracle applied to |inputs|, the standard bound's Σ|terms|). Half an ulp of float32 always
 * passes, since a float32 result can only be as close as the rounding of the exact value.
 */
export interface Bound {
  ulps?: number;
  atol?: number;
  scale?: ArrayLike<number>;
}

export function expectClose(what: string, got: ArrayLike<number>, want: ArrayLike<number>, { ulps = 0, atol = 0, scale }: Bound = {}): void {
  expect(got.length, `${what}: length`).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    const w = want[i]!;
    const g = got[i]!;
    const tol = atol + ulps * U * Math.abs(scale ? scale[i]! : w);
    const rounding = Math.abs(Math.fround(w) - w);
    if (!(Math.abs(g - w) <= Math.max(tol, rounding))) {
      expect.fail(`${what}[${i}]: got ${g}, want ${w} (|error| ${Math.abs(g - w)} > bound ${tol})`);
    }
  }
}
