import type { View } from '../../backend.js';
import { EngineError } from '../../errors.js';
import { isContiguous, numel, shapesEqual } from '../../shape.js';
import type { GpuStorage } from './buffers.js';
import { broadcastWalk, offsetsWgsl } from './layout.js';
import { PARAM_BYTES, at } from './params.js';
import { type GpuQueue, grid } from './queue.js';
import { F32_MATH, MAIN_1D, WG, type WgslScalar, bindings, wgslType } from './wgsl.js';

/**
 * Elementwise fusion by lazy evaluation. An elementwise op whose output is a whole fresh tensor records an
 * expression instead of a dispatch: the output's storage becomes *pending*. An elementwise op reading a pending
 * tensor element for element inlines its expression, so a chain such as silu(a)·b + c becomes one kernel that
 * reads a, b and c once and writes once, where op by op it makes three round trips through memory. A pending
 * tensor is computed (its kernel dispatched) when anything else needs its values: another kernel, a read back,
 * a write into a buffer its expression reads, `webgpuSync`. One disposed while still pending is never computed.
 *
 * A write into an existing tensor (an optimiser updating a parameter through `assign`) inlines its value's
 * expression, so the whole update is one kernel, and stays pending until the tensor is next read, so that the
 * step's temporaries, disposed by then, are not computed just because they read the old value. It is never
 * inlined itself: a parameter is computed once, not in each of its readers.
 *
 * Values never change meaning: an expression reads storages that hold their final values (a pending input is
 * inlined or computed first), and before a kernel writes a buffer, every pending expression reading that
 * buffer is computed. A storage released while pending expressions read it goes back to the pool only when
 * the last of them is gone.
 *
 * A pending tensor is inlined into its first elementwise consumer only; a second one (a backward reading a
 * saved activation, the next step reading an optimiser's moments) computes it into memory first and reads it
 * there. So no work is repeated more than once, and long-lived values (moments updated every step) do not grow
 * ever longer expressions. Expressions are also capped in size (ops, buffers, parameter words), and the cap is
 * met by computing inputs instead of inlining them.
 *
 * `ENGINE_FUSION=off` turns this off: every op is then dispatched when it is called (for kernel benchmarks and
 * debugging).
 */

/** A leaf reads a tensor from memory. */
export interface LeafExpr {
  readonly kind: 'leaf';
  readonly view: View;
}

/** One elementwise op of an expression. */
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

export type FusedExpr = LeafExpr | OpExpr;

/** An output whose kernel has not been dispatched yet. */
interface Pending {
  readonly root: OpExpr;
  /** The whole tensor in its storage: contiguous, from element 0. */
  readonly out: View;
  /** Storages the expression reads, apart from `out`'s own (see `emit`). */
  readonly reads: Set<GpuStorage>;
  /** Whether a consumer has inlined it already. */
  inlined: boolean;
  /** A write into a tensor that existed before (see the note at the top): computed, never inlined. */
  readonly inPlace: boolean;
}

/** Op nodes per kernel: bounds shader size and compile time (lavapipe compiles each new shader with LLVM). */
const MAX_OPS = 24;
/** Words of the uniform parameter block (params.ts). */
const PARAM_WORDS = PARAM_BYTES / 4;

export function fusionFromEnv(env: Record<string, string | undefined> = process.env): boolean {
  const v = (env.ENGINE_FUSION ?? 'on').toLowerCase();
  if (v !== 'on' && v !== 'off') throw new EngineError(`ENGINE_FUSION must be 'on' or 'off', not '${v}'`);
  return v === 'on';
}

export class ElementwiseFusion {
  /** When off, every expression is dispatched at once. */
  enabled: boolean = fusionFromEnv();
  private readonly pendingOf = new Map<GpuStorage, Pending>();
  /** Pending expressions reading each storage. */
  private readonly readersOf = new Map<GpuStorage, Set<Pending>>();
  /** Outputs allocated for an op and not yet written (any other output is written in place). */
  private readonly fresh = new WeakSet<GpuStorage>();
  /** Storages released by their tensors but still read by pending expressions. */
  private readonly heldAfterRelease = new Set<GpuStorage>();
  /** Kernels dispatched by this class (for tests and benchmarks). */
  kernels = 0;
  /** Set while this class records its own kernel, whose leaves are read as they are (see `emit`). */
  private emitting = false;

  constructor(
    private readonly queue: GpuQueue,
    private readonly maxReadBuffers: number,
  ) {
    queue.beforeUse = (reads, writes) => this.beforeUse(reads, writes);
  }

  /**
   * `out = root` elementwise over `out`'s shape; `root`'s arguments are leaves on the op's input views. Pending
   * inputs read element for element are inlined; the result is pending when `out` is a whole tensor, and
   * dispatched now otherwise (a slice of a larger output, as cat and pad write).
   */
  record(root: OpExpr, out: View): void {
    if (numel(out.shape) === 0) return;
    const gpuOut = out.storage as GpuStorage;
    const inlinedHere = new Map<Pending, OpExpr>();
    let expr: OpExpr = { ...root, args: root.args.map((a) => this.inlined(a, out, inlinedHere)) };
    if (!this.fits(expr, out)) expr = { ...root, args: root.args.map((a) => this.computed(a)) };
    const fresh = this.fresh.delete(gpuOut);
    if (!this.enabled || !isWhole(out)) return this.emit(expr, out);
    // An earlier pending value of `out` is overwritten before anything read it. Expressions reading the buffer's
    // present contents stay pending: they run before this one is dispatched (see `emit`).
    const old = this.pendingOf.get(gpuOut);
    if (old) this.forget(old);
    const pending: Pending = { root: expr, out, reads: new Set(), inlined: false, inPlace: !fresh };
    for (const leaf of leavesOf(expr)) {
      const s = leaf.storage as GpuStorage;
      if (s === gpuOut) continue;
      pending.reads.add(s);
      let readers = this.readersOf.get(s);
      if (!readers) this.readersOf.set(s, (readers = new Set()));
      readers.add(pending);
    }
    this.pendingOf.set(gpuOut, pending);
  }

  /** Called by the backend for an op's output storage, before the op's kernel writes it. */
  noteFresh(s: GpuStorage): void {
    this.fresh.add(s);
  }

  /** Called by the backend when no tensor refers to `s` any more; false while pending expressions still read it. */
  release(s: GpuStorage): boolean {
    const pending = this.pendingOf.get(s);
    if (pending) this.forget(pending);
    if (this.readersOf.get(s)?.size) {
      this.heldAfterRelease.add(s);
      return false;
    }
    return true;
  }

  /** Dispatches the kernels of the given storages' pending values, or of every pending value. */
  compute(storages?: Iterable<GpuStorage>): void {
    for (const s of storages ?? [...this.pendingOf.keys()]) {
      const pending = this.pendingOf.get(s);
      if (pending) this.run(pending);
    }
  }

  /** Pending values (for tests and leak reports). */
  get pendingCount(): number {
    return this.pendingOf.size;
  }

  /** Forgets every pending value (the device is going away). */
  clear(): void {
    this.pendingOf.clear();
    this.readersOf.clear();
    this.heldAfterRelease.clear();
  }

  /** Before any other kernel or copy: its inputs must hold their values, and nothing pending may still read what it writes. */
  private beforeUse(reads: readonly GpuStorage[], writes: readonly GpuStorage[]): void {
    if (this.emitting || this.pendingOf.size === 0) return;
    for (const s of reads) {
      const pending = this.pendingOf.get(s);
      if (pending) this.run(pending);
    }
    for (const s of writes) {
      const pending = this.pendingOf.get(s);
      if (pending) this.run(pending);
      this.runReaders(s);
    }
  }

  /** Runs the pending expressions that read `s`, before something overwrites it. */
  private runReaders(s: GpuStorage): void {
    const readers = this.readersOf.get(s);
    if (readers) for (const reader of [...readers]) this.run(reader);
  }

  /**
   * The argument as the consumer writing `out` will read it: a pending input's expression where it can be
   * inlined (`inlinedHere` keeps an input read twice by one op one node).
   */
  private inlined(arg: FusedExpr, out: View, inlinedHere: Map<Pending, OpExpr>): FusedExpr {
    if (arg.kind === 'op') return arg;
    const pending = this.pendingOf.get(arg.view.storage as GpuStorage);
    if (!pending) return arg;
    const again = inlinedHere.get(pending);
    if (again && isWhole(arg.view)) return again;
    const elementForElement = isWhole(arg.view) && shapesEqual(arg.view.shape, out.shape) && shapesEqual(pending.out.shape, out.shape);
    // Inlined into a kernel writing `out`, the expression may read `out`'s own buffer only at the element written.
    const readsOutSafely = leavesOf(pending.root).every((l) => l.storage !== out.storage || (isWhole(l) && shapesEqual(l.shape, out.shape)));
    if (elementForElement && readsOutSafely && !pending.inlined && !pending.inPlace) {
      pending.inlined = true;
      inlinedHere.set(pending, pending.root);
      return pending.root;
    }
    this.run(pending);
    return arg;
  }

  /** The argument (a leaf: an input of the op) with its tensor's value computed. */
  private computed(arg: FusedExpr): FusedExpr {
    const pending = arg.kind === 'leaf' && this.pendingOf.get(arg.view.storage as GpuStorage);
    if (pending) this.run(pending);
    return arg;
  }

  /** Whether one kernel can compute `expr` into `out`: ops, read buffers and parameter words within limits. */
  private fits(expr: OpExpr, out: View): boolean {
    const { ops, leaves } = numbered(expr);
    const buffers = new Set(leaves.map((l) => l.storage)).size;
    return ops.length <= MAX_OPS && buffers <= this.maxReadBuffers && paramWords(leaves.length + 1, out.shape.length, ops) <= PARAM_WORDS;
  }

  private run(pending: Pending): void {
    this.forget(pending);
    this.emit(pending.root, pending.out);
  }

  /** Drops a pending value: its storage no longer waits for it, and the storages it read may be let go. */
  private forget(pending: Pending): void {
    this.pendingOf.delete(pending.out.storage as GpuStorage);
    for (const s of pending.reads) {
      const readers = this.readersOf.get(s)!;
      readers.delete(pending);
      if (readers.size) continue;
      this.readersOf.delete(s);
      if (this.heldAfterRelease.delete(s)) this.queue.pool.release(s, this.queue.batch);
    }
  }

  /**
   * Records the kernel computing `expr` into `out` (any strided view; leaves broadcast to its shape). Its leaves
   * are read as they are now, even where a new value of theirs is pending; what reads `out`'s present contents
   * runs first.
   */
  private emit(expr: OpExpr, out: View): void {
    this.runReaders(out.storage as GpuStorage);
    this.kernels++;
    const n = numel(out.shape);
    const { ops, leaves, names } = numbered(expr);
    const operands = [...leaves, out];
    const walk = broadcastWalk(operands, out.shape);
    const rank = walk.shape.length;
    // Each distinct storage is bound once; a leaf on `out`'s own storage reads the element about to be written.
    const reads: GpuStorage[] = [];
    const source = leaves.map((l) => {
      const s = l.storage as GpuStorage;
      if (s === out.storage) return 'out';
      if (!reads.includes(s)) reads.push(s);
      return `in${reads.indexOf(s)}`;
    });
    const readTypes = reads.map((s) => wgslType(s.dtype));
    // Parameter words: n, the walk's sizes, per operand its offset and strides, per op its two constants.
    const words: number[] = [n, ...walk.shape];
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
    if (words.length > PARAM_WORDS) throw new EngineError(`WebGPU fusion: ${words.length} parameter words exceed ${PARAM_WORDS}`);
    const params = new Uint32Array(PARAM_WORDS);
    words.forEach((w, k) => (params[k] = w >>> 0));

    // Operands stepping by 1 (or broadcast scalars) over a single merged dim address element i directly.
    const dense = rank <= 1 && walk.strides.every((s) => s.length === 0 || s[0] === 0 || s[0] === 1);
    const pattern = dense ? walk.strides.map((s) => (s.length && s[0] === 1 ? 'i' : 's')).join('') : `r${rank}`;
    const word = (k: number) => at('p.w', k);
    const leafSig = leaves.map((l, j) => `${source[j]}:${wgslType(l.dtype)}`).join(',');
    const opSig = ops.map((op) => `${op.key}(${op.args.map((a) => names.get(a)).join(',')})${constantWord.has(op) ? 'c' : ''}`).join(';');
    const o = leaves.length;
    const outType = wgslType(out.dtype);
    this.emitting = true;
    try {
      this.queue.dispatch({
        key: `fused:${pattern}|${readTypes.join('')}|${leafSig}|${opSig}>${outType}`,
        code: () => {
          const address = dense
            ? operands.map((_, k) => `  let off${k} = ${word(offsetWord[k]!)}${pattern[k] === 'i' ? ' + i' : ''};\n`).join('')
            : offsetsWgsl(
                rank,
                'i',
                (d) => word(1 + d),
                operands.map((_, k) => ({ name: `off${k}`, init: word(offsetWord[k]!), strides: (d: number) => word(strideWord[k]! + d) })),
              );
          const loads = leaves.map((_, j) => `  let l${j} = ${source[j]}[off${j}];\n`).join('');
          const body = ops
            .map((op) => {
              const c = constantWord.get(op);
              const constants: [string, string] = c === undefined ? ['0', '0'] : [`bitcast<${op.type}>(${word(c)})`, `bitcast<${op.type}>(${word(c + 1)})`];
              return `  let ${names.get(op)} = ${op.wgsl(op.args.map((a) => names.get(a)!), constants)};\n`;
            })
            .join('');
          return (
            `struct Params { w: array<vec4<u32>, ${PARAM_WORDS / 4}>, }\n` +
            bindings(
              reads.map((_, k) => [`in${k}`, readTypes[k]!]),
              [['out', outType]],
            ) +
            F32_MATH +
            MAIN_1D +
            `\n  if (i >= ${word(0)}) { return; }\n` +
            address +
            loads +
            body +
            `  out[off${o}] = ${names.get(expr)};\n}\n`
          );
        },
        reads,
        writes: [out.storage as GpuStorage],
        params,
        workgroups: grid(Math.ceil(n / WG)),
        cost: n * (operands.length + ops.length),
      });
    } finally {
      this.emitting = false;
    }
  }
}

/** The whole of its storage, contiguous from element 0: a tensor a kernel may leave pending. */
function isWhole(v: View): boolean {
  return v.offset === 0 && isContiguous(v.shape, v.strides) && v.storage.length === numel(v.shape);
}

function leavesOf(expr: OpExpr): View[] {
  return numbered(expr).leaves;
}

/**
 * The expression's DAG in evaluation order: op nodes (shared subexpressions once) named t0, t1, …, and its
 * distinct leaf views named l0, l1, … (two leaves on the same view load once).
 */
function numbered(root: OpExpr): { ops: OpExpr[]; leaves: View[]; names: Map<FusedExpr, string> } {
  const ops: OpExpr[] = [];
  const leaves: View[] = [];
  const leafIndex = new Map<string, number>();
  const names = new Map<FusedExpr, string>();
  const visit = (e: FusedExpr): void => {
    if (names.has(e)) return;
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
  visit(root);
  return { ops, leaves, names };
}

/** Parameter words of a kernel with `operands` operands over at most `rank` merged dims (see `emit`). */
function paramWords(operands: number, rank: number, ops: readonly OpExpr[]): number {
  return 1 + rank + operands * (1 + rank) + 2 * ops.filter((op) => op.constants.length).length;
}

/** A constant as the bits of the op's result type. */
function bitsOf(value: number, type: WgslScalar): number {
  return type === 'i32' ? value | 0 : new Uint32Array(new Float32Array([value]).buffer)[0]!;
}
