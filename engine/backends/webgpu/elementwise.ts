import type { Kernel, View } from '../../backend.js';
import { webgpu } from './context.js';
import { broadcastWalk, offsetsWgsl, padList } from './layout.js';
import { ParamLayout } from './params.js';
import { grid } from './queue.js';
import { F32_MATH, MAIN_1D, WG, type WgslScalar, bindings, storagesOf, wgslType } from './wgsl.js';

/**
 * Elementwise kernels: one shader template walks strided, broadcast inputs (dims merged on the host) and applies
 * the op's expression; the same template serves the unary and binary ops, `where`, `cast`, `copy`, and the fused
 * activations (relu, leaky_relu, gelu, silu, clamp: one pass where their composite definitions take three to
 * eight; autograd differentiates the composites).
 * Expressions follow the CPU kernels' conventions (NaN propagation in maximum/minimum, sign(0) = 0,
 * comparisons give 1 or 0 in the input dtype).
 */

type Expr = (args: string[], t: WgslScalar) => string;

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
  leaky_relu: ([x]) => `select(${x} * c0, ${x}, ${x} > 0.0)`,
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

/** clamp with a lower bound c0, an upper bound c1, or both (the bounds are parameters of the dispatch). */
function clampExprs(): Record<string, Expr> {
  const low = (x: string) => `select(${x}, c0, ${x} < c0)`;
  const high = (x: string) => `select(${x}, c1, ${x} > c1)`;
  return { clamp_low: ([x]) => low(x!), clamp_high: ([x]) => high(x!), clamp: ([x]) => high(low(x!)) };
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
 * Parameters for k inputs plus the output: an offset and strides per operand over the merged dims, and two
 * constants of the op (clamp's bounds, leaky_relu's slope) as bit patterns of the output's type.
 */
const layouts = [1, 2, 3].map(
  (k) =>
    new ParamLayout({
      n: 'u32',
      c0: 'u32',
      c1: 'u32',
      ...Object.fromEntries(Array.from({ length: k + 1 }, (_, j) => [`off${j}`, 'u32' as const])),
      shape: 'list',
      ...Object.fromEntries(Array.from({ length: k + 1 }, (_, j) => [`s${j}`, 'list' as const])),
    }),
);

/**
 * Records `out = op(inputs…)` elementwise over `out`'s shape, inputs broadcast to it. `out` may itself be a
 * strided view (a slice of a larger buffer, as for cat and pad); strides may be negative (flip).
 */
export function elementwise(op: string, inputs: readonly View[], out: View, constants: readonly number[] = []): void {
  const n = out.shape.reduce((a, b) => a * b, 1);
  if (n === 0) return;
  const operands = [...inputs, out];
  const walk = broadcastWalk(operands, out.shape);
  const rank = walk.shape.length;
  const inTypes = inputs.map((v) => wgslType(v.dtype));
  const outType = wgslType(out.dtype);
  const layout = layouts[inputs.length - 1]!;
  const bits = (v: number) => (outType === 'i32' ? v | 0 : new Uint32Array(new Float32Array([v]).buffer)[0]!) >>> 0;
  const values: Record<string, number | number[]> = { n, c0: bits(constants[0] ?? 0), c1: bits(constants[1] ?? 0), shape: padList(walk.shape) };
  operands.forEach((v, k) => {
    values[`off${k}`] = v.offset;
    values[`s${k}`] = padList(walk.strides[k]!);
  });
  const o = inputs.length;
  // Dense operands (stride 1, or 0 for a broadcast scalar) address element i directly, with no index arithmetic
  // (1.5× the throughput on lavapipe); anything else walks the merged dims.
  const dense = rank <= 1 && walk.strides.every((s) => s.length === 0 || s[0] === 0 || s[0] === 1);
  const pattern = dense ? walk.strides.map((s) => (s.length && s[0] === 1 ? 'i' : 's')).join('') : `r${rank}`;
  webgpu().queue.dispatch({
    key: `ew:${op}:${inTypes.join('')}>${outType}:${pattern}`,
    code: () => {
      const address = dense
        ? operands.map((_, k) => `  let off${k} = p.off${k}${pattern[k] === 'i' ? ' + i' : ''};\n`).join('')
        : offsetsWgsl(rank, 'i', 'p.shape', operands.map((_, k) => ({ name: `off${k}`, init: `p.off${k}`, strides: `p.s${k}` })));
      const loads = inputs.map((_, k) => `  let a${k} = in${k}[off${k}];\n`).join('');
      const args = inputs.map((_, k) => `a${k}`);
      return (
        layout.wgsl() +
        bindings(
          inputs.map((_, k) => [`in${k}`, inTypes[k]!]),
          [['out', outType]],
        ) +
        F32_MATH +
        MAIN_1D +
        `\n  if (i >= p.n) { return; }\n` +
        address +
        loads +
        `  let c0 = bitcast<${outType}>(p.c0);\n  let c1 = bitcast<${outType}>(p.c1);\n` +
        `  out[off${o}] = ${exprFor(op, inTypes, outType)(args, outType)};\n}\n`
      );
    },
    reads: storagesOf(inputs),
    writes: storagesOf([out]),
    params: layout.pack(values as never),
    workgroups: grid(Math.ceil(n / WG)),
    cost: n * operands.length,
  });
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
