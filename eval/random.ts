import { type Generator, rand } from '../engine/index.js';

/** `count` uniform numbers in [0, 1) from the engine's generator, so that a seed replays every draw. */
export function uniforms(count: number, generator?: Generator): Float64Array {
  const t = rand([count], { dtype: 'float64', generator });
  const values = Float64Array.from(t.toArraySync());
  t.dispose();
  return values;
}

/** A uniformly random ordering of 0…n−1 (sorting random keys). */
export function permutation(n: number, generator?: Generator): Int32Array {
  const keys = uniforms(n, generator);
  return Int32Array.from(Array.from({ length: n }, (_, i) => i).sort((a, b) => keys[a]! - keys[b]!));
}
