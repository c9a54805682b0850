/**
 * Random numbers in WGSL, bit-identical to engine/random.ts: Philox-4x32-10 in u32 arithmetic (the 32×32→64
 * products built from 16-bit halves, as the JavaScript does), and a normal transform that uses integers only.
 *
 * Why integers for the normal: Box–Muller needs log, sqrt and cos, and GPUs neither round those correctly nor
 * promise the order of float operations (a*b+c may be fused into one FMA, division is 2.5 ulp in WGSL). Integer
 * arithmetic is exact everywhere, so `normalFromWords` (engine/random-normal.ts) and `box_muller` (WGSL) compute the
 * same fixed-point values step by step; the only float operation is one final f32 product, which IEEE rounds
 * the same on every device. Accuracy: |error| < 2^-24 relative to the exact Box–Muller value of the same two
 * words, apart from the last rounding (checked in test/webgpu/random.test.ts).
 *
 * The JavaScript twin, which the CPU backend uses, is engine/random-normal.ts.
 */

import { ATANH_DENOMS, COS_DENOMS, LN2_Q27, PI_Q30, RSQRT_NEWTON_STEPS, SIN_DENOMS, SQRT2_Q31 } from '../../random-normal.js';

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
