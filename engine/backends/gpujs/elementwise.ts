import type { View } from '../../backend.js';
import { elementOffsets, isDense } from '../cpu/strided.js';
import type { GpuJsKernel } from './kernel.js';
import { storageOf } from './storage.js';

/*
 * Elementwise ops as gpu.js kernels: one thread per output element. Each op is a JavaScript expression, spliced
 * into a kernel function's source, because gpu.js compiles a kernel from source text and cannot call a closure.
 *
 * How a thread finds its input element depends on the input's layout, decided on the host:
 *   dense      the input has the output's shape and is contiguous: element i sits at start + i
 *   single     the input has one element (a scalar, a reduced statistic): every thread reads start
 *   gathered   anything else (broadcast, transposed, sliced): the host walks the strides once and passes a
 *              table of offsets, one per output element
 * The offset table keeps index arithmetic out of the kernel, where float division would be inexact on WGSL.
 */

/** Each op as an expression in x (unary) or a and b (binary), in the subset of JavaScript gpu.js transpiles. */
const unary: Record<string, string> = {
  neg: '-x',
  exp: 'Math.exp(x)',
  log: 'Math.log(x)',
  sqrt: 'Math.sqrt(x)',
  rsqrt: '1 / Math.sqrt(x)',
  abs: 'Math.abs(x)',
  sign: 'Math.sign(x)',
  sin: 'Math.sin(x)',
  cos: 'Math.cos(x)',
  tanh: 'Math.tanh(x)',
  sigmoid: '1 / (1 + Math.exp(-x))',
  floor: 'Math.floor(x)',
  copy: 'x',
};

/** Comparisons give 1/0 in the input's dtype, like the CPU kernels. NaN ordering follows the target, not C. */
const binary: Record<string, string> = {
  add: 'a + b',
  sub: 'a - b',
  mul: 'a * b',
  div: 'a / b',
  maximum: 'Math.max(a, b)',
  minimum: 'Math.min(a, b)',
  eq: 'a === b ? 1 : 0',
  ne: 'a !== b ? 1 : 0',
  lt: 'a < b ? 1 : 0',
  le: 'a <= b ? 1 : 0',
  gt: 'a > b ? 1 : 0',
  ge: 'a >= b ? 1 : 0',
};

type Layout = 'dense' | 'single' | 'gathered';

function layoutOf(input: View, shape: readonly number[]): Layout {
  if (isDense(input, shape)) return 'dense';
  return input.shape.reduce((n, d) => n * d, 1) === 1 ? 'single' : 'gathered';
}

/**
 * The kernel function's source for `expression` over inputs named by `names`, each read according to its
 * layout. Parameters come in pairs: the values, then the start offset (a number) or the offset table.
 */
function kernelSource(expression: string, names: readonly string[], layouts: readonly Layout[]): string {
  const params = names.flatMap((n) => [`${n}Values`, `${n}Where`]);
  const reads = names.map((n, k) => {
    const at = { dense: `${n}Where + this.thread.x`, single: `${n}Where`, gathered: `${n}Where[this.thread.x]` }[layouts[k]!];
    return `  const ${n} = ${n}Values[${at}];`;
  });
  return `function (${params.join(', ')}) {\n${reads.join('\n')}\n  return ${expression};\n}`;
}

function elementwise(name: string, expression: string, names: readonly string[]): GpuJsKernel {
  return (runtime, inputs, [out]) => {
    const shape = out!.shape;
    const layouts = inputs.map((x) => layoutOf(x, shape));
    const gathered = inputs.filter((_, k) => layouts[k] === 'gathered');
    const tables = elementOffsets(gathered, shape);
    const args = inputs.flatMap((x, k) => [storageOf(x).data, layouts[k] === 'gathered' ? tables.shift()! : x.offset]);
    return runtime.run(`${name}:${layouts.join(',')}`, kernelSource(expression, names, layouts), [storageOf(out!).length], args, out!);
  };
}

export const elementwiseKernels: Record<string, GpuJsKernel> = {
  ...Object.fromEntries(Object.entries(unary).map(([op, e]) => [op, elementwise(op, e, ['x'])])),
  ...Object.fromEntries(Object.entries(binary).map(([op, e]) => [op, elementwise(op, e, ['a', 'b'])])),
};
