import * as E from '../../engine/index.js';
import type { Tensor } from '../../engine/index.js';
import { numel } from '../../engine/shape.js';

/** Unit roundoff of float32. */
export const U = 2 ** -24;

/** Float32 values from a seeded xorshift stream, uniform in [min, max) (for sizes too big for fast-check). */
export function seededValues(n: number, seed: number, { min = -2, max = 2 } = {}): Float32Array {
  let s = seed >>> 0 || 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = min + ((s >>> 0) / 2 ** 32) * (max - min);
  }
  return out;
}

/** A float32 CPU tensor of seeded values. */
export function cpuTensor(shape: readonly number[], seed: number, range?: { min?: number; max?: number }): Tensor {
  return E.fromArray(seededValues(numel(shape), seed, range), shape, { dtype: 'float32' });
}
