import type { DType } from '../../dtype.js';
import type { GpuStorage } from './buffers.js';

/**
 * Pieces shared by the WGSL kernels: storage types, binding declarations in the order queue.ts binds them,
 * the entry point of a 1-D launch, and the f32 math that WGSL lacks or leaves loose.
 *
 * NaN tests use the bit pattern: WGSL lets compilers assume that floats are never NaN, so `x != x` may fold.
 */

export type WgslScalar = 'f32' | 'i32';

export function wgslType(dtype: DType): WgslScalar {
  return dtype === 'int32' ? 'i32' : 'f32';
}

/** Threads per workgroup of the 1-D kernels. */
export const WG = 256;

/**
 * `var` declarations for `reads` (read-only), then `writes`, then the uniform block `p`, at bindings
 * 0, 1, 2, … exactly as GpuQueue binds them.
 */
export function bindings(reads: readonly [string, WgslScalar | string][], writes: readonly [string, WgslScalar | string][], paramsStruct = 'Params'): string {
  let b = 0;
  const lines: string[] = [];
  for (const [name, type] of reads) lines.push(`@group(0) @binding(${b++}) var<storage, read> ${name}: array<${type}>;`);
  for (const [name, type] of writes) lines.push(`@group(0) @binding(${b++}) var<storage, read_write> ${name}: array<${type}>;`);
  lines.push(`@group(0) @binding(${b}) var<uniform> p: ${paramsStruct};`);
  return lines.join('\n') + '\n';
}

/** Entry point of a 1-D launch over `WG`-thread workgroups on a 2-D grid (see `grid()`); `i` is the thread index. */
export const MAIN_1D = `@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * ${WG}u + lid;`;

export function storagesOf(views: readonly { storage: unknown }[]): GpuStorage[] {
  return views.map((v) => v.storage as GpuStorage);
}

/**
 * f32 math with the edge cases PyTorch gives (log of a negative is NaN, pow of a negative base by an integer),
 * and accurate versions of what WGSL leaves loose: tanh (WGSL's may overflow to NaN), erf (absent), pow by
 * small integers (exact repeated products instead of exp2·log2).
 */
export const F32_MATH = /* wgsl */ `
fn is_nan(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u; }
// Runtime values: WGSL rejects NaN and infinity in constant expressions.
fn nan_f32() -> f32 { var bits = 0x7fc00000u; return bitcast<f32>(bits); }
fn inf_f32() -> f32 { var bits = 0x7f800000u; return bitcast<f32>(bits); }

fn log_(x: f32) -> f32 {
  if (is_nan(x) || x < 0.0) { return nan_f32(); }
  if (x == 0.0) { return -inf_f32(); }
  return log(x);
}
fn sqrt_(x: f32) -> f32 {
  if (is_nan(x) || x < 0.0) { return nan_f32(); }
  return sqrt(x);
}
fn rsqrt_(x: f32) -> f32 {
  if (is_nan(x) || x < 0.0) { return nan_f32(); }
  if (x == 0.0) { return inf_f32(); }
  return inverseSqrt(x);
}
fn sign_(x: f32) -> f32 {
  if (is_nan(x)) { return x; }
  return select(select(0.0, -1.0, x < 0.0), 1.0, x > 0.0);
}
fn max_(a: f32, b: f32) -> f32 {
  if (is_nan(a) || is_nan(b)) { return nan_f32(); }
  return select(b, a, a > b);
}
fn min_(a: f32, b: f32) -> f32 {
  if (is_nan(a) || is_nan(b)) { return nan_f32(); }
  return select(b, a, a < b);
}

// tanh: Taylor series near 0 (no cancellation), (1 − e^−2|x|)/(1 + e^−2|x|) elsewhere (no overflow).
fn tanh_(x: f32) -> f32 {
  let a = abs(x);
  if (a < 0.55) {
    let z = x * x;
    return x * (1.0 + z * (-0.33333333 + z * (0.13333333 + z * (-0.053968254 + z * (0.021869488
      + z * (-0.0088632355 + z * (0.0035921280 + z * (-0.0014558344 + z * 0.00059002744))))))));
  }
  let t = exp(-2.0 * a);
  return sign(x) * (1.0 - t) / (1.0 + t);
}

fn sigmoid_(x: f32) -> f32 {
  if (x >= 0.0) { return 1.0 / (1.0 + exp(-x)); }
  let e = exp(x);
  return e / (1.0 + e);
}

// erf: Taylor series for |x| < 0.5; 1 − erfc(|x|) beyond, with the Chebyshev-fitted erfc of Numerical
// Recipes (relative error < 1.2e-7), so the absolute error stays near 1e-7 everywhere.
fn erf_(x: f32) -> f32 {
  let a = abs(x);
  if (a < 0.5) {
    let z = x * x;
    return 1.1283791671 * x * (1.0 + z * (-0.33333333 + z * (0.1 + z * (-0.023809524 + z * (0.0046296296
      + z * (-0.00075757576 + z * 0.00010683761))))));
  }
  if (a >= 4.0) { return sign(x); }
  let t = 1.0 / (1.0 + 0.5 * a);
  let erfc = t * exp(-a * a - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806
    + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
  return sign(x) * (1.0 - erfc);
}

fn pow_(a: f32, b: f32) -> f32 {
  if (b == 0.0) { return 1.0; }
  if (is_nan(a) || is_nan(b)) { return nan_f32(); }
  let whole = b == trunc(b);
  if (whole && abs(b) <= 64.0) {
    // Square-and-multiply: at most 12 roundings, exact for small integer powers of exact values.
    var n = u32(abs(b));
    var base = a;
    var r = 1.0;
    loop {
      if ((n & 1u) == 1u) { r = r * base; }
      n = n >> 1u;
      if (n == 0u) { break; }
      base = base * base;
    }
    return select(r, 1.0 / r, b < 0.0);
  }
  if (a == 0.0) { return select(0.0, inf_f32(), b < 0.0); }
  if (a < 0.0) {
    if (!whole) { return nan_f32(); }
    let m = exp2(b * log2(-a));
    let odd = abs(b) < 16777216.0 && (u32(abs(b)) & 1u) == 1u;
    return select(m, -m, odd);
  }
  return exp2(b * log2(a));
}
`;
