import { randomValue } from '../random.js';
import type { Cotangent } from './types.js';

/**
 * Seeded random vectors for the checks: directions u, output weights v and cotangents. They come from Philox
 * (engine/random.ts), so stream `stream` of seed `seed` is the same on every run and machine, and a report's
 * seed is enough to rebuild them.
 */

export const DEFAULT_SEED = 20261125;

function uniforms(n: number, seed: number, stream: number): Float64Array {
  const words = new Uint32Array(4);
  const attrs = { seed, offset: stream * 2 ** 32, distribution: 'uniform' as const };
  return Float64Array.from({ length: n }, (_, i) => randomValue(attrs, i, words));
}

/** Independent ±1 entries: unlike non-negative directions, they do not let errors of opposite sign hide. */
export function rademacher(n: number, seed: number, stream: number): Float64Array {
  return uniforms(n, seed, stream).map((r) => (r < 0.5 ? -1 : 1));
}

/** Nonzero dyadic values ±k/8, k = 1…16: exact in float32, so the f32 and f64 paths see the same cotangent. */
export function dyadic(n: number, seed: number, stream: number): Float64Array {
  const signs = rademacher(n, seed, 2 * stream);
  return uniforms(n, seed, 2 * stream + 1).map((r, i) => (signs[i]! * (1 + Math.floor(r * 16))) / 8);
}

/**
 * Output weights for each output of the given sizes: seeded dyadic values (the default), ones, or the
 * caller's tensors' values.
 */
export function cotangentValues(sizes: readonly number[], cotangent: Cotangent, seed: number): Float64Array[] {
  if (cotangent === 'ones') return sizes.map((n) => new Float64Array(n).fill(1));
  if (cotangent === 'random-dyadic') return sizes.map((n, k) => dyadic(n, seed, 1 + k));
  return sizes.map((n, k) => {
    const values = Float64Array.from(cotangent[k]!.toArraySync());
    if (values.length !== n) throw new RangeError(`cotangent ${k} has ${values.length} elements, the output has ${n}`);
    return values;
  });
}
