/**
 * Numerical derivatives along a line t ↦ F(x + t·u), every output element at once, each with an error
 * estimate and a kink test, so that a verdict can say whether the gradient or the oracle is suspect.
 */

export type Line = (t: number) => Float64Array;

export interface LineDerivative {
  /** dF/dt at t = 0. */
  value: Float64Array;
  /** Error estimate per element. */
  noise: Float64Array;
  /** One-sided slopes at step h; they disagree at a kink. */
  forward: Float64Array;
  backward: Float64Array;
  kink: Uint8Array;
  /** The step h (central), or the starting step (Ridders). */
  step: number;
}

/** One-sided slopes that differ by more than this (relative to the slopes, at least 1) mark a kink. */
const KINK_GAP = 1e-3;

function map(n: number, f: (k: number) => number): Float64Array {
  const out = new Float64Array(n);
  for (let k = 0; k < n; k++) out[k] = f(k);
  return out;
}

/**
 * Central differences at h, and at 2h as the error estimate: e = |D_h − D_2h| is about ¾ of D_2h's truncation
 * error and grows with round-off, so it flags an oracle that cannot be trusted.
 */
export function central(line: Line, center: Float64Array, h: number): LineDerivative {
  const [p1, m1, p2, m2] = [h, -h, 2 * h, -2 * h].map(line) as [Float64Array, Float64Array, Float64Array, Float64Array];
  const n = center.length;
  const value = map(n, (k) => (p1[k]! - m1[k]!) / (2 * h));
  const noise = map(n, (k) => Math.abs(value[k]! - (p2[k]! - m2[k]!) / (4 * h)));
  return { value, noise, ...oneSided(center, p1, m1, h), step: h };
}

const RIDDERS_START = 2 ** -6;
const RIDDERS_LEVELS = 10;
/** Steps shrink by 2, so every step stays a power of two. */
const SHRINK = 2;
/** Stop refining once a new level is worse than the best estimate by this factor. */
const SAFE = 2;

/**
 * Ridders' extrapolation (Numerical Recipes `dfridr`): central differences at steps 2^-6·scale, halved each
 * level, extrapolated to h → 0 in a Neville tableau; each element keeps the tableau entry with the smallest
 * error estimate. Kinks are still judged by one-sided slopes at the small step `h`.
 */
export function ridders(line: Line, center: Float64Array, h: number, scale: number): LineDerivative {
  const n = center.length;
  const centralAt = (step: number): Float64Array => {
    const [p, m] = [line(step), line(-step)];
    return map(n, (k) => (p[k]! - m[k]!) / (2 * step));
  };
  const start = RIDDERS_START * scale;
  let step = start;
  let previous: Float64Array[] = [centralAt(step)];
  const value = Float64Array.from(previous[0]!);
  const noise = new Float64Array(n).fill(Infinity);
  const settled = new Uint8Array(n);
  for (let level = 1; level < RIDDERS_LEVELS && settled.some((s) => !s); level++) {
    step /= SHRINK;
    const current: Float64Array[] = [centralAt(step)];
    let factor = SHRINK * SHRINK;
    for (let j = 1; j <= level; j++) {
      const f = factor;
      current[j] = map(n, (k) => (current[j - 1]![k]! * f - previous[j - 1]![k]!) / (f - 1));
      factor *= SHRINK * SHRINK;
      for (let k = 0; k < n; k++) {
        if (settled[k]) continue;
        const err = Math.max(Math.abs(current[j]![k]! - current[j - 1]![k]!), Math.abs(current[j]![k]! - previous[j - 1]![k]!));
        if (err <= noise[k]!) {
          noise[k] = err;
          value[k] = current[j]![k]!;
        }
      }
    }
    for (let k = 0; k < n; k++) {
      if (Math.abs(current[level]![k]! - previous[level - 1]![k]!) >= SAFE * noise[k]!) settled[k] = 1;
    }
    previous = current;
  }
  return { value, noise, ...oneSided(center, line(h), line(-h), h), step: start };
}

function oneSided(center: Float64Array, plus: Float64Array, minus: Float64Array, h: number) {
  const n = center.length;
  const forward = map(n, (k) => (plus[k]! - center[k]!) / h);
  const backward = map(n, (k) => (center[k]! - minus[k]!) / h);
  const kink = new Uint8Array(n);
  for (let k = 0; k < n; k++) {
    const f = forward[k]!;
    const b = backward[k]!;
    kink[k] = Math.abs(f - b) > KINK_GAP * Math.max(1, Math.abs(f), Math.abs(b)) ? 1 : 0;
  }
  return { forward, backward, kink };
}
