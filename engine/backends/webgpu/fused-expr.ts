import type { View } from '../../backend.js';
import type { GpuStorage } from './buffers.js';
import { broadcastWalk, offsetsWgsl } from './layout.js';
import { type WgslScalar, wgslType } from './wgsl.js';

/**
 * Elementwise expressions, as fusion.ts builds them: DAGs of elementwise ops over leaves (tensors read from
 * memory, broadcast to the expression's shape) and, in a matmul's epilogue, the matmul's own result. This file
 * turns one into WGSL evaluated at one flat index, with its parameters as words of a uniform block.
 */

/** A tensor read from memory. */
export interface LeafExpr {
  readonly kind: 'leaf';
  readonly view: View;
}

/** The element of A·B a matmul kernel has just computed (in epilogues, see fusion.ts). */
export interface AccExpr {
  readonly kind: 'acc';
}

/** One elementwise op. */
export interface OpExpr {
  readonly kind: 'op';
  /** Names the op with its operand and result types in pipeline keys: equal keys mean equal `wgsl`. */
  readonly key: string;
  readonly args: readonly FusedExpr[];
  readonly type: WgslScalar;
  /** The op's scalar constants (clamp's bounds, leaky_relu's slope), parameters of the kernel. */
  readonly constants: readonly number[];
  /** The WGSL expression, given the names of its arguments and of its two constants. */
  readonly wgsl: (args: string[], constants: [string, string]) => string;
}

export type FusedExpr = LeafExpr | AccExpr | OpExpr;

export const ACC: AccExpr = { kind: 'acc' };

/** The WGSL name of the matmul result inside an epilogue. */
const ACC_NAME = 'v';

/**
 * The DAG of `roots` in evaluation order: op nodes (shared subexpressions once) named t0, t1, …, and the distinct
 * leaf views named l0, l1, … (two leaves on the same view load once).
 */
export function numbered(roots: readonly FusedExpr[]): { ops: OpExpr[]; leaves: View[]; names: Map<FusedExpr, string> } {
  const ops: OpExpr[] = [];
  const leaves: View[] = [];
  const leafIndex = new Map<string, number>();
  const names = new Map<FusedExpr, string>();
  const visit = (e: FusedExpr): void => {
    if (names.has(e)) return;
    if (e.kind === 'acc') {
      names.set(e, ACC_NAME);
      return;
    }
    if (e.kind === 'leaf') {
      const v = e.view;
      const key = `${(v.storage as GpuStorage).id}@${v.offset}:${v.shape.join(',')}/${v.strides.join(',')}:${v.dtype}`;
      let j = leafIndex.get(key);
      if (j === undefined) {
        leafIndex.set(key, (j = leaves.length));
        leaves.push(v);
      }
      names.set(e, `l${j}`);
      return;
    }
    e.args.forEach(visit);
    names.set(e, `t${ops.length}`);
    ops.push(e);
  };
  roots.forEach(visit);
  return { ops, leaves, names };
}

export function leavesOf(...roots: FusedExpr[]): View[] {
  return numbered(roots).leaves;
}

/** Parameter words of an expression with `operands` operands walked over at most `rank` dims (see `compileExpr`). */
export function exprWords(operands: number, rank: number, ops: readonly OpExpr[]): number {
  return rank + operands * (1 + rank) + 2 * ops.filter((op) => op.constants.length).length;
}

export interface CompiledExpr {
  /** Pipeline key: the structure, the leaves' sources and types, the address pattern. */
  key: string;
  /** Its parameter words: the walk's sizes, per operand its offset and strides, per op with constants two. */
  words: number[];
  /** WGSL: `offK` for every operand, `lJ` for every leaf, then one `let` per op (roots named by `name`). */
  body: string;
  name: (root: FusedExpr) => string;
}

/**
 * Compiles `roots` evaluated at flat row-major index `index` of `shape`. The operands walked are the leaves,
 * then `extra` views (an elementwise kernel's output, which may be strided); `source(v)` names the binding a
 * leaf is loaded from, and `word(k)` reads parameter word `first + k`.
 */
export function compileExpr(
  roots: readonly FusedExpr[],
  extra: readonly View[],
  shape: readonly number[],
  index: string,
  source: (v: View) => string,
  word: (k: number) => string,
): CompiledExpr {
  const { ops, leaves, names } = numbered(roots);
  const operands = [...leaves, ...extra];
  const walk = broadcastWalk(operands, shape);
  const rank = walk.shape.length;
  const words = [...walk.shape];
  const offsetWord: number[] = [];
  const strideWord: number[] = [];
  operands.forEach((v, k) => {
    offsetWord.push(words.length);
    words.push(v.offset);
    strideWord.push(words.length);
    words.push(...walk.strides[k]!);
  });
  const constantWord = new Map<OpExpr, number>();
  for (const op of ops) {
    if (!op.constants.length) continue;
    constantWord.set(op, words.length);
    words.push(...[op.constants[0] ?? 0, op.constants[1] ?? 0].map((c) => bitsOf(c, op.type)));
  }
  // Operands stepping by 1 (or broadcast scalars) over a single merged dim address element `index` directly.
  const dense = rank <= 1 && walk.strides.every((s) => s.length === 0 || s[0] === 0 || s[0] === 1);
  const pattern = dense ? walk.strides.map((s) => (s.length && s[0] === 1 ? 'i' : 's')).join('') : `r${rank}`;
  const address = dense
    ? operands.map((_, k) => `  let off${k} = ${word(offsetWord[k]!)}${pattern[k] === 'i' ? ` + ${index}` : ''};\n`).join('')
    : offsetsWgsl(
        rank,
        index,
        (d) => word(d),
        operands.map((_, k) => ({ name: `off${k}`, init: word(offsetWord[k]!), strides: (d: number) => word(strideWord[k]! + d) })),
      );
  const loads = leaves.map((v, j) => `  let l${j} = ${source(v)}[off${j}];\n`).join('');
  const lets = ops
    .map((op) => {
      const c = constantWord.get(op);
      const constants: [string, string] = c === undefined ? ['0', '0'] : [`bitcast<${op.type}>(${word(c)})`, `bitcast<${op.type}>(${word(c + 1)})`];
      return `  let ${names.get(op)} = ${op.wgsl(op.args.map((a) => names.get(a)!), constants)};\n`;
    })
    .join('');
  const leafSig = leaves.map((v) => `${source(v)}:${wgslType(v.dtype)}`).join(',');
  const opSig = ops.map((op) => `${op.key}(${op.args.map((a) => names.get(a)).join(',')})${constantWord.has(op) ? 'c' : ''}`).join(';');
  const rootSig = roots.map((r) => names.get(r)).join(',');
  return { key: `${pattern}|${leafSig}|${opSig}|${rootSig}`, words, body: address + loads + lets, name: (r) => names.get(r)! };
}

/** A constant as the bits of the op's result type. */
function bitsOf(value: number, type: WgslScalar): number {
  return type === 'i32' ? value | 0 : new Uint32Array(new Float32Array([value]).buffer)[0]!;
}
