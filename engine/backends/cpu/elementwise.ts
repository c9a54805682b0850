import type { Kernel, View } from '../../backend.js';
import { dataOf } from './storage.js';
import { elementOffsets, isDense } from './strided.js';
import { erf, sigmoid } from './math.js';

/** Scalar forms of the elementwise ops, computed in float64 and rounded once on store. */
const unary: Record<string, (x: number) => number> = {
  neg: (x) => -x,
  exp: Math.exp,
  log: Math.log,
  sqrt: Math.sqrt,
  rsqrt: (x) => 1 / Math.sqrt(x),
  abs: Math.abs,
  sign: (x) => (x > 0 ? 1 : x < 0 ? -1 : x === 0 ? 0 : NaN),
  sin: Math.sin,
  cos: Math.cos,
  tanh: Math.tanh,
  sigmoid,
  erf,
  floor: Math.floor,
  cast: (x) => x,
  copy: (x) => x,
};

const binary: Record<string, (a: number, b: number) => number> = {
  add: (a, b) => a + b,
  sub: (a, b) => a - b,
  mul: (a, b) => a * b,
  div: (a, b) => a / b,
  pow,
  maximum: (a, b) => (a !== a || b !== b ? NaN : a > b ? a : b),
  minimum: (a, b) => (a !== a || b !== b ? NaN : a < b ? a : b),
  eq: (a, b) => +(a === b),
  ne: (a, b) => +(a !== b),
  lt: (a, b) => +(a < b),
  le: (a, b) => +(a <= b),
  gt: (a, b) => +(a > b),
  ge: (a, b) => +(a >= b),
};

/**
 * C's pow, which PyTorch follows: 1 to any power, NaN included, is 1, and so is (−1)^±∞. JavaScript's Math.pow
 * gives NaN for those; it agrees with C everywhere else.
 */
function pow(a: number, b: number): number {
  if (a === 1 || (a === -1 && Math.abs(b) === Infinity)) return 1;
  return Math.pow(a, b);
}

/** int32 products wrap modulo 2^32 like C's; a product of doubles would lose the low bits past 2^53 first. */
const int32Binary: Record<string, (a: number, b: number) => number> = {
  mul: Math.imul,
};

function mapUnary(f: (x: number) => number): Kernel {
  return ([x], [out]) => {
    const src = dataOf(x!);
    const dst = dataOf(out!);
    if (isDense(x!, out!.shape)) {
      const o = x!.offset;
      for (let i = 0; i < dst.length; i++) dst[i] = f(src[o + i]!);
      return;
    }
    const [off] = elementOffsets([x!], out!.shape);
    for (let i = 0; i < dst.length; i++) dst[i] = f(src[off![i]!]!);
  };
}

function mapBinary(f: (a: number, b: number) => number): Kernel {
  return ([a, b], [out]) => {
    const fa = dataOf(a!);
    const fb = dataOf(b!);
    const dst = dataOf(out!);
    if (isDense(a!, out!.shape) && isDense(b!, out!.shape)) {
      const oa = a!.offset;
      const ob = b!.offset;
      for (let i = 0; i < dst.length; i++) dst[i] = f(fa[oa + i]!, fb[ob + i]!);
      return;
    }
    // A single-element operand (a plain number, a reduced statistic) needs no offset table.
    if (isDense(a!, out!.shape) && sizeOf(b!) === 1) {
      const oa = a!.offset;
      const vb = fb[b!.offset]!;
      for (let i = 0; i < dst.length; i++) dst[i] = f(fa[oa + i]!, vb);
      return;
    }
    if (sizeOf(a!) === 1 && isDense(b!, out!.shape)) {
      const va = fa[a!.offset]!;
      const ob = b!.offset;
      for (let i = 0; i < dst.length; i++) dst[i] = f(va, fb[ob + i]!);
      return;
    }
    const [offA, offB] = elementOffsets([a!, b!], out!.shape);
    for (let i = 0; i < dst.length; i++) dst[i] = f(fa[offA![i]!]!, fb[offB![i]!]!);
  };
}

function sizeOf(v: View): number {
  return v.shape.reduce((n, d) => n * d, 1);
}

const where: Kernel = ([cond, a, b], [out]) => {
  const [oc, oa, ob] = elementOffsets([cond!, a!, b!], out!.shape) as [Int32Array, Int32Array, Int32Array];
  const c = dataOf(cond!);
  const fa = dataOf(a!);
  const fb = dataOf(b!);
  const dst = dataOf(out!);
  for (let i = 0; i < dst.length; i++) dst[i] = c[oc[i]!] !== 0 ? fa[oa[i]!]! : fb[ob[i]!]!;
};

/** Picks the int32 form of a binary op where it has one. */
function byDType(name: string, f: (a: number, b: number) => number): Kernel {
  const forFloats = mapBinary(f);
  const forInts = int32Binary[name] ? mapBinary(int32Binary[name]) : forFloats;
  return (inputs, outputs, attrs) => (outputs[0]!.dtype === 'int32' ? forInts : forFloats)(inputs, outputs, attrs);
}

export const elementwiseKernels: Record<string, Kernel> = {
  ...Object.fromEntries(Object.entries(unary).map(([k, f]) => [k, mapUnary(f)])),
  ...Object.fromEntries(Object.entries(binary).map(([k, f]) => [k, byDType(k, f)])),
  where,
};
