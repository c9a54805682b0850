/**
 * The standard normal of the counter-based generator, computed in integer fixed-point arithmetic so that every
 * backend draws bit-identical numbers. Box–Muller needs log, sqrt and cos, which GPUs neither round correctly
 * nor evaluate in a promised order (a*b+c may become one FMA; WGSL division is 2.5 ulp); integers are exact
 * everywhere. The WGSL twin in engine/backends/webgpu/philox.ts follows this file step by step and imports its
 * constants. Accuracy: within about 3 ulp (float32) of exact Box–Muller on the same two words.
 */
import { mulhi } from './random.js';

/** ⌊√2·2^31⌋: mantissas above it are halved, so that log's argument lies in [√½, √2]. */
export const SQRT2_Q31 = 3037000499;
/** round(ln 2 · 2^27). */
export const LN2_Q27 = 93032641;
/** round(π · 2^30): turns a 22-bit fraction of a quarter turn into radians in Q31. */
export const PI_Q30 = 3373259426;
/** Denominators of the Horner forms of cos and sin on [0, π/4] (k(k+1) of the Taylor series). */
export const COS_DENOMS = [132, 90, 56, 30, 12, 2];
export const SIN_DENOMS = [156, 110, 72, 42, 20, 6];
/** Odd denominators of atanh(σ)/σ = 1 + σ²/3 + σ⁴/5 + … (σ ≤ 0.1716, so 6 terms reach 2^-39). */
export const ATANH_DENOMS = [3, 5, 7, 9, 11, 13];
export const RSQRT_NEWTON_STEPS = 5;


/** Exactly m·2^e as a float32 value, m rounded to 24 significant bits (half up). */
function toF32(m: number, e: number): number {
  if (m === 0) return 0;
  const bits = 32 - Math.clz32(m);
  if (bits > 24) {
    const sh = bits - 24;
    m = (m >>> sh) + ((m >>> (sh - 1)) & 1);
    e += sh;
  }
  return m * 2 ** e;
}

/**
 * −ln(u1) for u1 = n / 2^24, n in [1, 2^24], as (mantissa, q) meaning mantissa · 2^-q: with full relative
 * precision near u1 = 1 (where the radius is tiny), and absolute precision 2^-27 elsewhere (where it is ≥ 0.35).
 */
function minusLog(n: number): [number, number] {
  const e = 31 - Math.clz32(n);
  const big = (n << (31 - e)) >>> 0 > SQRT2_Q31 ? 1 : 0;
  const E = e + big;
  const pow = 2 ** E;
  const N = Math.abs(pow - n);
  const D = pow + n;
  // −ln(n / 2^E) = ±2·atanh(σ), σ = |2^E − n| / (2^E + n) ≤ 0.1716.
  let Am = 0;
  let j = 0;
  if (N !== 0) {
    j = Math.clz32(N) - Math.clz32(D);
    if (N * 2 ** j < D) j++;
    let r = N * 2 ** j;
    let Q = 0;
    for (let i = 0; i < 32; i++) {
      Q = Q * 2;
      if (r >= D) {
        Q += 1;
        r -= D;
      }
      r *= 2;
    }
    const sigma = Q >>> (j - 1);
    const s2 = mulhi(sigma, sigma);
    let power = s2;
    let series = 0;
    for (const d of ATANH_DENOMS) {
      series += Math.floor(power / d);
      power = mulhi(power, s2);
    }
    Am = mulhi(Q, (2 ** 31 + (series >>> 1)) >>> 0);
  }
  // 2·atanh(σ) = Am · 2^(−29−j).
  if (E === 24) return [Am, 29 + j];
  const A27 = Am === 0 ? 0 : Math.floor(Am / 2 ** (2 + j));
  const L = (24 - E) * LN2_Q27 + (n < pow ? A27 : -A27);
  return [L >>> 0, 27];
}

/** √(2L) as float32, L = M · 2^-q. */
function radius(M: number, q: number): number {
  if (M === 0) return 0;
  const p = 31 - Math.clz32(M);
  const e2 = p + 1 - q;
  const odd = ((e2 % 2) + 2) % 2;
  const shift = 30 - p + odd; // V = v · 2^30 with v = 2L / 2^E2 in [1, 4)
  const V = shift >= 0 ? (M * 2 ** shift) >>> 0 : M >>> -shift;
  const E2 = e2 - odd;
  let y = 2 ** 31 - Math.floor((V - 2 ** 30) / 3);
  for (let k = 0; k < RSQRT_NEWTON_STEPS; k++) {
    const t = mulhi(V, mulhi(y, y));
    y = (mulhi(y, 3 * 2 ** 28 - t) * 8) >>> 0;
  }
  return toF32(mulhi(V, y), E2 / 2 - 29);
}

function horner(z2: number, denoms: readonly number[]): number {
  let h = 2 ** 31 - Math.floor(z2 / denoms[0]!);
  for (let k = 1; k < denoms.length; k++) h = 2 ** 31 - Math.floor(((mulhi(z2, h) * 2) >>> 0) / denoms[k]!);
  return h;
}

/**
 * cos(2π·b/2^24) as float32, b a 24-bit integer. By symmetry this is ±cos or ±sin of x = arg·(π/2)/2^22 with
 * x ≤ π/4. sin x = x·S(x²) keeps full relative precision for tiny x by multiplying the exact integer `arg`
 * (normalised to 32 bits) by π·S, rather than rounding x to a fixed point first.
 */
function cosTurn(b: number): number {
  const quadrant = b >>> 22;
  const psi = b & 0x3fffff;
  const upper = psi > 0x200000;
  const arg = upper ? 0x400000 - psi : psi;
  const useSin = (quadrant & 1) === 1 !== upper;
  const x = mulhi(arg * 1024, PI_Q30);
  const z2 = (mulhi(x, x) * 2) >>> 0;
  let value: number;
  if (!useSin) value = toF32(horner(z2, COS_DENOMS), -31);
  else if (arg === 0) value = 0;
  else {
    const lz = Math.clz32(arg);
    value = toF32(mulhi((arg * 2 ** lz) >>> 0, mulhi(PI_Q30, horner(z2, SIN_DENOMS))), -20 - lz);
  }
  return quadrant === 1 || quadrant === 2 ? -value : value;
}

/** The standard normal drawn from Philox words w0, w1: √(−2 ln u1) · cos(2π u2), as float32. */
export function normalFromWords(w0: number, w1: number): number {
  const [M, q] = minusLog((w0 >>> 8) + 1);
  return Math.fround(radius(M, q) * cosTurn(w1 >>> 8));
}
