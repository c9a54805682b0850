/**
 * Random numbers in WGSL, bit-identical to engine/random.ts: Philox-4x32-10 in u32 arithmetic (the 32×32→64
 * products built from 16-bit halves, as the JavaScript does), and a normal transform that uses integers only.
 *
 * Why integers for the normal: Box–Muller needs log, sqrt and cos, and GPUs neither round those correctly nor
 * promise the order of float operations (a*b+c may be fused into one FMA, division is 2.5 ulp in WGSL). Integer
 * arithmetic is exact everywhere, so `normalFromWords` below (JavaScript) and `box_muller` (WGSL) compute the
 * same fixed-point values step by step; the only float operation is one final f32 product, which IEEE rounds
 * the same on every device. Accuracy: |error| < 2^-24 relative to the exact Box–Muller value of the same two
 * words, apart from the last rounding (checked in test/webgpu/random.test.ts).
 *
 * `normalFromWords` is meant to be the CPU's normal too (engine/random.ts), so that both backends draw the same
 * numbers; until it moves there, the CPU uses float64 Box–Muller and agrees to ~1 ulp only.
 */

/* ---------------------------------------------------------------- constants shared by both twins */

/** ⌊√2·2^31⌋: mantissas above it are halved, so that log's argument lies in [√½, √2]. */
const SQRT2_Q31 = 3037000499;
/** round(ln 2 · 2^27). */
const LN2_Q27 = 93032641;
/** round(π · 2^30): turns a 22-bit fraction of a quarter turn into radians in Q31. */
const PI_Q30 = 3373259426;
/** Denominators of the Horner forms of cos and sin on [0, π/4] (k(k+1) of the Taylor series). */
const COS_DENOMS = [132, 90, 56, 30, 12, 2];
const SIN_DENOMS = [156, 110, 72, 42, 20, 6];
/** Odd denominators of atanh(σ)/σ = 1 + σ²/3 + σ⁴/5 + … (σ ≤ 0.1716, so 6 terms reach 2^-39). */
const ATANH_DENOMS = [3, 5, 7, 9, 11, 13];
const RSQRT_NEWTON_STEPS = 5;

/* ---------------------------------------------------------------- JavaScript twin */

function mulhi(a: number, b: number): number {
  const aLo = a & 0xffff;
  const aHi = a >>> 16;
  const bLo = b & 0xffff;
  const bHi = b >>> 16;
  const lolo = aLo * bLo;
  const mid1 = aHi * bLo + (lolo >>> 16);
  const mid2 = aLo * bHi + (mid1 & 0xffff);
  return (aHi * bHi + Math.floor(mid1 / 65536) + Math.floor(mid2 / 65536)) >>> 0;
}

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

/* ---------------------------------------------------------------- WGSL twin */

const wgslDenoms = (name: string, ds: readonly number[]) => `const ${name} = array<u32, ${ds.length}>(${ds.map((d) => `${d}u`).join(', ')});`;

export const PHILOX_WGSL = /* wgsl */ `
fn mulhi(a: u32, b: u32) -> u32 {
  let aLo = a & 0xffffu;
  let aHi = a >> 16u;
  let bLo = b & 0xffffu;
  let bHi = b >> 16u;
  let lolo = aLo * bLo;
  let mid1 = aHi * bLo + (lolo >> 16u);
  let mid2 = aLo * bHi + (mid1 & 0xffffu);
  return aHi * bHi + (mid1 >> 16u) + (mid2 >> 16u);
}

// Philox-4x32-10 of counter c under key k.
fn philox(counter: vec4u, key: vec2u) -> vec4u {
  var c = counter;
  var k = key;
  for (var r = 0u; r < 10u; r++) {
    let hi0 = mulhi(0xd2511f53u, c.x);
    let lo0 = 0xd2511f53u * c.x;
    let hi1 = mulhi(0xcd9e8d57u, c.z);
    let lo1 = 0xcd9e8d57u * c.z;
    c = vec4u(hi1 ^ c.y ^ k.x, lo1, hi0 ^ c.w ^ k.y, lo0);
    k = k + vec2u(0x9e3779b9u, 0xbb67ae85u);
  }
  return c;
}

${wgslDenoms('COS_DENOMS', COS_DENOMS)}
${wgslDenoms('SIN_DENOMS', SIN_DENOMS)}
${wgslDenoms('ATANH_DENOMS', ATANH_DENOMS)}

fn to_f32(mantissa: u32, exponent: i32) -> f32 {
  if (mantissa == 0u) { return 0.0; }
  var m = mantissa;
  var e = exponent;
  let bits = 32u - countLeadingZeros(m);
  if (bits > 24u) {
    let sh = bits - 24u;
    m = (m >> sh) + ((m >> (sh - 1u)) & 1u);
    e += i32(sh);
  }
  return ldexp(f32(m), e);
}

fn minus_log(n: u32) -> vec2u {
  let e = 31u - countLeadingZeros(n);
  let E = e + select(0u, 1u, (n << (31u - e)) > ${SQRT2_Q31}u);
  let p2e = 1u << E;
  let N = select(n - p2e, p2e - n, p2e >= n);
  let D = p2e + n;
  var Am = 0u;
  var j = 0u;
  if (N != 0u) {
    j = countLeadingZeros(N) - countLeadingZeros(D);
    if ((N << j) < D) { j += 1u; }
    var r = N << j;
    var Q = 0u;
    for (var i = 0u; i < 32u; i++) {
      Q = Q << 1u;
      if (r >= D) { Q += 1u; r -= D; }
      r = r << 1u;
    }
    let sigma = Q >> (j - 1u);
    let s2 = mulhi(sigma, sigma);
    var power = s2;
    var series = 0u;
    for (var k = 0u; k < ${ATANH_DENOMS.length}u; k++) {
      series += power / ATANH_DENOMS[k];
      power = mulhi(power, s2);
    }
    Am = mulhi(Q, 0x80000000u + (series >> 1u));
  }
  if (E == 24u) { return vec2u(Am, 29u + j); }
  let A27 = Am >> (2u + j);
  let L = (24u - E) * ${LN2_Q27}u + select(0u - A27, A27, n < p2e);
  return vec2u(L, 27u);
}

fn radius(M: u32, q: u32) -> f32 {
  if (M == 0u) { return 0.0; }
  let p = 31u - countLeadingZeros(M);
  let e2 = i32(p) + 1 - i32(q);
  let odd = e2 & 1;
  let shift = 30 - i32(p) + odd;
  let V = select(M >> u32(-shift), M << u32(max(shift, 0)), shift >= 0);
  let E2 = e2 - odd;
  var y = 0x80000000u - (V - 0x40000000u) / 3u;
  for (var k = 0; k < ${RSQRT_NEWTON_STEPS}; k++) {
    let t = mulhi(V, mulhi(y, y));
    y = mulhi(y, 0x30000000u - t) << 3u;
  }
  return to_f32(mulhi(V, y), E2 / 2 - 29);
}

fn horner_cos(z2: u32) -> u32 {
  var h = 0x80000000u - z2 / COS_DENOMS[0];
  for (var k = 1u; k < ${COS_DENOMS.length}u; k++) { h = 0x80000000u - (mulhi(z2, h) << 1u) / COS_DENOMS[k]; }
  return h;
}
fn horner_sin(z2: u32) -> u32 {
  var h = 0x80000000u - z2 / SIN_DENOMS[0];
  for (var k = 1u; k < ${SIN_DENOMS.length}u; k++) { h = 0x80000000u - (mulhi(z2, h) << 1u) / SIN_DENOMS[k]; }
  return h;
}

fn sin_small(arg: u32, z2: u32) -> f32 {
  if (arg == 0u) { return 0.0; }
  let lz = countLeadingZeros(arg);
  return to_f32(mulhi(arg << lz, mulhi(${PI_Q30}u, horner_sin(z2))), -20 - i32(lz));
}

fn cos_turn(b: u32) -> f32 {
  let quadrant = b >> 22u;
  let psi = b & 0x3fffffu;
  let upper = psi > 0x200000u;
  let arg = select(psi, 0x400000u - psi, upper);
  let use_sin = ((quadrant & 1u) == 1u) != upper;
  let x = mulhi(arg << 10u, ${PI_Q30}u);
  let z2 = mulhi(x, x) << 1u;
  var value: f32;
  if (use_sin) { value = sin_small(arg, z2); } else { value = to_f32(horner_cos(z2), -31); }
  return select(value, -value, quadrant == 1u || quadrant == 2u);
}

fn box_muller(w0: u32, w1: u32) -> f32 {
  let l = minus_log((w0 >> 8u) + 1u);
  return radius(l.x, l.y) * cos_turn(w1 >> 8u);
}
`;
