import type { Kernel, View } from '../../backend.js';
import { webgpu } from './context.js';
import { type WgslScalar, wgslType } from './wgsl.js';

/**
 * Elementwise ops as WGSL expressions: the unary and binary ops, `where`, `cast`, `copy`, and the fused
 * activations (relu, leaky_relu, gelu, silu, clamp: one expression where their composite definitions take three
 * to eight ops; autograd differentiates the composites). fusion.ts turns chains of them into kernels that walk
 * strided, broadcast inputs (dims merged on the host).
 * Expressions follow the CPU kernels' conventions (NaN propagation in maximum/minimum, sign(0) = 0,
 * comparisons give 1 or 0 in the input dtype).
 */

type Expr = (args: string[], t: WgslScalar, c: [string, string]) => string;

const unaryF32: Record<string, Expr> = {
  neg: ([x]) => `-${x}`,
  exp: ([x]) => `exp(${x})`,
  log: ([x]) => `log_(${x})`,
  sqrt: ([x]) => `sqrt_(${x})`,
  rsqrt: ([x]) => `rsqrt_(${x})`,
  abs: ([x]) => `abs(${x})`,
  sign: ([x]) => `sign_(${x})`,
  sin: ([x]) => `sin(${x})`,
  cos: ([x]) => `cos(${x})`,
  tanh: ([x]) => `tanh_(${x})`,
  sigmoid: ([x]) => `sigmoid_(${x})`,
  erf: ([x]) => `erf_(${x})`,
  floor: ([x]) => `floor(${x})`,
  copy: ([x]) => x!,
  // Fused activations: the arithmetic of their composite definitions in engine/ops/activation.ts.
  relu: ([x], t) => `select(${x}, ${t}(0), ${x} <= ${t}(0))`,
  leaky_relu: ([x], _, [slope]) => `select(${x} * ${slope}, ${x}, ${x} > 0.0)`,
  gelu: ([x]) => `(${x} * 0.5) * (1.0 + erf_(${x} * ${Math.SQRT1_2}))`,
  gelu_tanh: ([x]) => `(${x} * 0.5) * (1.0 + tanh_((${x} + ${x} * (${x} * ${x}) * 0.044715) * ${Math.sqrt(2 / Math.PI)}))`,
  silu: ([x]) => `${x} * sigmoid_(${x})`,
  ...clampExprs(),
};

/** int32: the ops whose definitions accept integers (the others are float-only, checked by `infer`). */
const unaryI32: Record<string, Expr> = {
  neg: ([x]) => `-${x}`,
  abs: ([x]) => `abs(${x})`,
  sign: ([x]) => `sign(${x})`,
  copy: ([x]) => x!,
  relu: ([x], t) => `select(${x}, ${t}(0), ${x} <= ${t}(0))`,
  ...clampExprs(),
};

/** clamp with a lower bound (first constant), an upper bound (second), or both. */
function clampExprs(): Record<string, Expr> {
  const low = (x: string, lo: string) => `select(${x}, ${lo}, ${x} < ${lo})`;
  const high = (x: string, hi: string) => `select(${x}, ${hi}, ${x} > ${hi})`;
  return { clamp_low: ([x], _, [lo]) => low(x!, lo), clamp_high: ([x], _, [, hi]) => high(x!, hi), clamp: ([x], _, [lo, hi]) => high(low(x!, lo), hi) };
}

const compare = (op: string): Expr => ([a, b], t) => `select(${t}(0), ${t}(1), ${a} ${op} ${b})`;

const binaryAny: Record<string, Expr> = {
  add: ([a, b]) => `${a} + ${b}`,
  sub: ([a, b]) => `${a} - ${b}`,
  mul: ([a, b]) => `${a} * ${b}`,
  eq: compare('=='),
  ne: compare('!='),
  lt: compare('<'),
  le: compare('<='),
  gt: compare('>'),
  ge: compare('>='),
};

const binaryF32: Record<string, Expr> = {
  ...binaryAny,
  div: ([a, b]) => `${a} / ${b}`,
  pow: ([a, b]) => `pow_(${a}, ${b})`,
  maximum: ([a, b]) => `max_(${a}, ${b})`,
  minimum: ([a, b]) => `min_(${a}, ${b})`,
};

const binaryI32: Record<string, Expr> = {
  ...binaryAny,
  maximum: ([a, b]) => `max(${a}, ${b})`,
  minimum: ([a, b]) => `min(${a}, ${b})`,
};

function exprFor(op: string, inTypes: WgslScalar[], outType: WgslScalar): Expr {
  if (op === 'where') return ([c, a, b]) => `select(${b}, ${a}, ${c} != ${inTypes[0]}(0))`;
  if (op === 'cast') {
    // float → int truncates toward zero (WGSL saturates out-of-range values); NaN becomes 0 as on the CPU.
    if (inTypes[0] === 'f32' && outType === 'i32') return ([x]) => `select(i32(${x}), 0, is_nan(${x}))`;
    return ([x]) => `${outType}(${x})`;
  }
  const table = inTypes.length === 1 ? (outType === 'f32' ? unaryF32 : unaryI32) : outType === 'f32' ? binaryF32 : binaryI32;
  const expr = table[op];
  if (!expr) throw new Error(`no WGSL expression for ${op} on ${outType}`);
  return expr;
}

/**
 * `out = op(inputs…)` elementwise over `out`'s shape, inputs broadcast to it. `out` may itself be a strided view
 * (a slice of a larger buffer, as for cat and pad); strides may be negative (flip). The op is recorded for
 * fusion with its neighbours (fusion.ts), which dispatches it.
 */
export function elementwise(op: string, inputs: readonly View[], out: View, constants: readonly number[] = []): void {
  const inTypes = inputs.map((v) => wgslType(v.dtype));
  const outType = wgslType(out.dtype);
  const expr = exprFor(op, inTypes, outType);
  webgpu().fusion.record(
    {
      kind: 'op',
      key: `${op}:${inTypes.join('')}>${outType}`,
      args: inputs.map((view) => ({ kind: 'leaf', view })),
      type: outType,
      constants,
      wgsl: (args, c) => expr(args, outType, c),
    },
    out,
  );
}

function kernelFor(op: string): Kernel {
  return (inputs, [out]) => elementwise(op, inputs, out!);
}

const primitives = ['neg', 'exp', 'log', 'sqrt', 'rsqrt', 'abs', 'sign', 'sin', 'cos', 'tanh', 'sigmoid', 'erf', 'floor', 'copy', ...Object.keys(binaryF32), 'where', 'cast'];

export const elementwiseKernels: Record<string, Kernel> = {
  ...Object.fromEntries(primitives.map((op) => [op, kernelFor(op)])),
  relu: kernelFor('relu'),
  silu: kernelFor('silu'),
  leaky_relu: ([x], [out], { negativeSlope }: { negativeSlope: number }) => elementwise('leaky_relu', [x!], out!, [negativeSlope]),
  gelu: ([x], [out], { approximate }: { approximate: 'none' | 'tanh' }) => elementwise(approximate === 'tanh' ? 'gelu_tanh' : 'gelu', [x!], out!),
  clamp: ([x], [out], { min, max }: { min?: number; max?: number }) =>
    elementwise(max === undefined ? 'clamp_low' : min === undefined ? 'clamp_high' : 'clamp', [x!], out!, [min ?? 0, max ?? 0]),
};
