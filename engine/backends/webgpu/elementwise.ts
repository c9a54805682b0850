import type { Kernel, View } from '../../backend.js';
import { webgpu } from './context.js';
import { broadcastWalk, offsetsWgsl, padList } from './layout.js';
import { ParamLayout } from './params.js';
import { grid } from './queue.js';
import { F32_MATH, MAIN_1D, WG, type WgslScalar, bindings, storagesOf, wgslType } from './wgsl.js';

/**
 * Elementwise kernels: one shader template walks strided, broadcast inputs (dims merged on the host) and applies
 * the op's expression; the same template serves the unary and binary ops, `where`, `cast` and `copy`.
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
};

/** int32: the ops whose definitions accept integers (the others are float-only, checked by `infer`). */
const unaryI32: Record<string, Expr> = {
  neg: ([x]) => `-${x}`,
  abs: ([x]) => `abs(${x})`,
  sign: ([x]) => `sign(${x})`,
  copy: ([x]) => x!,
};

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

/** Parameters for k inputs plus the output: an offset and strides per operand over the merged dims. */
const layouts = [1, 2, 3].map(
  (k) =>
    new ParamLayout({
      n: 'u32',
      ...Object.fromEntries(Array.from({ length: k + 1 }, (_, j) => [`off${j}`, 'u32' as const])),
      shape: 'list',
      ...Object.fromEntries(Array.from({ length: k + 1 }, (_, j) => [`s${j}`, 'list' as const])),
    }),
);

/**
 * Records `out = op(inputs…)` elementwise over `out`'s shape, inputs broadcast to it. `out` may itself be a
 * strided view (a slice of a larger buffer, as for cat and pad); strides may be negative (flip).
 */
export function elementwise(op: string, inputs: readonly View[], out: View): void {
  const n = out.shape.reduce((a, b) => a * b, 1);
  if (n === 0) return;
  const operands = [...inputs, out];
  const walk = broadcastWalk(operands, out.shape);
  const rank = walk.shape.length;
  const inTypes = inputs.map((v) => wgslType(v.dtype));
  const outType = wgslType(out.dtype);
  const layout = layouts[inputs.length - 1]!;
  const values: Record<string, number | number[]> = { n, shape: padList(walk.shape) };
  operands.forEach((v, k) => {
    values[`off${k}`] = v.offset;
    values[`s${k}`] = padList(walk.strides[k]!);
  });
  const o = inputs.length;
  // Dense operands (stride 1, or 0 for a broadcast scalar) get addresses linear in the thread index, which
  // compilers turn into vector loads; anything else walks the merged dims.
  const dense = rank <= 1 && walk.strides.every((s) => s.length === 0 || s[0] === 0 || s[0] === 1);
  const pattern = dense ? walk.strides.map((s) => (s.length && s[0] === 1 ? 'i' : 's')).join('') : `r${rank}`;
  webgpu().queue.dispatch({
    key: `ew:${op}:${inTypes.join('')}>${outType}:${pattern}`,
    code: () => {
      const address = dense
        ? operands.map((_, k) => `  let off${k} = p.off${k}${pattern[k] === 'i' ? ' + i' : ''};\n`).join('')
        : offsetsWgsl(rank, 'i', 'p.shape', operands.map((_, k) => ({ name: `off${k}`, init: `p.off${k}`, strides: `p.s${k}` })));
      const args = inputs.map((_, k) => `in${k}[off${k}]`);
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

const ops = [...new Set([...Object.keys(unaryF32), ...Object.keys(binaryF32), 'where', 'cast'])];

export const elementwiseKernels: Record<string, Kernel> = Object.fromEntries(ops.map((op) => [op, kernelFor(op)]));
