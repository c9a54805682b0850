import type { Kernel, View } from '../../backend.js';
import { dataOf } from './storage.js';
import { type RunPlan, isDense, runPlan } from './strided.js';
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

/*
 * The hot loops. V8 keeps type feedback per function literal, so one loop shared by forty ops would see forty
 * different `f`s, call them megamorphically and inline none. `perOp` gives every op its own copy of each loop
 * (recompiled from the loop's source), in which the call to `f` sees one function and is inlined. Each copy's
 * source names its op: V8 caches compilations by source text, and copies made from identical text would share
 * one function's feedback again (measured: int32 `mul` calls then made float32 `mul` 4× slower).
 */
type Data = ArrayLike<number> & { [i: number]: number };

function denseUnary(f: (x: number) => number, src: Data, o: number, dst: Data, n: number): void {
  for (let i = 0; i < n; i++) dst[i] = f(src[o + i]!);
}
function runsUnary(f: (x: number) => number, src: Data, starts: Int32Array, step: number, dst: Data, inner: number): void {
  let i = 0;
  for (let r = 0; r < starts.length; r++) {
    for (let j = 0, p = starts[r]!; j < inner; j++, p += step) dst[i++] = f(src[p]!);
  }
}
function denseBinary(f: (a: number, b: number) => number, a: Data, oa: number, b: Data, ob: number, dst: Data, n: number): void {
  for (let i = 0; i < n; i++) dst[i] = f(a[oa + i]!, b[ob + i]!);
}
function scalarRight(f: (a: number, b: number) => number, a: Data, oa: number, vb: number, dst: Data, n: number): void {
  for (let i = 0; i < n; i++) dst[i] = f(a[oa + i]!, vb);
}
function scalarLeft(f: (a: number, b: number) => number, va: number, b: Data, ob: number, dst: Data, n: number): void {
  for (let i = 0; i < n; i++) dst[i] = f(va, b[ob + i]!);
}
function runsBinary(f: (a: number, b: number) => number, a: Data, b: Data, dst: Data, { inner, steps, starts }: RunPlan): void {
  const [startsA, startsB] = starts as [Int32Array, Int32Array];
  const [stepA, stepB] = steps as [number, number];
  let i = 0;
  for (let r = 0; r < startsA.length; r++) {
    let pa = startsA[r]!;
    let pb = startsB[r]!;
    for (let j = 0; j < inner; j++, pa += stepA, pb += stepB) dst[i++] = f(a[pa]!, b[pb]!);
  }
}

function perOp<T extends (...args: never[]) => void>(loop: T, op: string): T {
  return new Function(`return ${loop.toString()} // the copy for ${op}`)() as T;
}

function mapUnary(op: string, f: (x: number) => number): Kernel {
  const dense = perOp(denseUnary, op);
  const runs = perOp(runsUnary, op);
  return ([x], [out]) => {
    const dst = dataOf(out!);
    if (isDense(x!, out!.shape)) return dense(f, dataOf(x!), x!.offset, dst, dst.length);
    const plan = runPlan([x!], out!.shape);
    runs(f, dataOf(x!), plan.starts[0]!, plan.steps[0]!, dst, plan.inner);
  };
}

function mapBinary(op: string, f: (a: number, b: number) => number): Kernel {
  const dense = perOp(denseBinary, op);
  const right = perOp(scalarRight, op);
  const left = perOp(scalarLeft, op);
  const runs = perOp(runsBinary, op);
  return ([a, b], [out]) => {
    const fa = dataOf(a!);
    const fb = dataOf(b!);
    const dst = dataOf(out!);
    const n = dst.length;
    const aDense = isDense(a!, out!.shape);
    const bDense = isDense(b!, out!.shape);
    // A single-element operand (a plain number, a reduced statistic) is read once.
    if (aDense && bDense) dense(f, fa, a!.offset, fb, b!.offset, dst, n);
    else if (aDense && sizeOf(b!) === 1) right(f, fa, a!.offset, fb[b!.offset]!, dst, n);
    else if (bDense && sizeOf(a!) === 1) left(f, fa[a!.offset]!, fb, b!.offset, dst, n);
    else runs(f, fa, fb, dst, runPlan([a!, b!], out!.shape));
  };
}

function sizeOf(v: View): number {
  return v.shape.reduce((n, d) => n * d, 1);
}

const where: Kernel = ([cond, a, b], [out]) => {
  const { inner, steps, starts } = runPlan([cond!, a!, b!], out!.shape);
  const [startsC, startsA, startsB] = starts as [Int32Array, Int32Array, Int32Array];
  const [stepC, stepA, stepB] = steps as [number, number, number];
  const c = dataOf(cond!);
  const fa = dataOf(a!);
  const fb = dataOf(b!);
  const dst = dataOf(out!);
  let i = 0;
  for (let r = 0; r < startsC.length; r++) {
    let pc = startsC[r]!;
    let pa = startsA[r]!;
    let pb = startsB[r]!;
    for (let j = 0; j < inner; j++, pc += stepC, pa += stepA, pb += stepB) dst[i++] = c[pc] !== 0 ? fa[pa]! : fb[pb]!;
  }
};

/** Picks the int32 form of a binary op where it has one. */
function byDType(name: string, f: (a: number, b: number) => number): Kernel {
  const forFloats = mapBinary(name, f);
  const forInts = int32Binary[name] ? mapBinary(`${name} (int32)`, int32Binary[name]) : forFloats;
  return (inputs, outputs, attrs) => (outputs[0]!.dtype === 'int32' ? forInts : forFloats)(inputs, outputs, attrs);
}

export const elementwiseKernels: Record<string, Kernel> = {
  ...Object.fromEntries(Object.entries(unary).map(([k, f]) => [k, mapUnary(k, f)])),
  ...Object.fromEntries(Object.entries(binary).map(([k, f]) => [k, byDType(k, f)])),
  where,
};
