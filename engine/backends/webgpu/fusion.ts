import type { View } from '../../backend.js';
import { EngineError } from '../../errors.js';
import { isContiguous, numel, shapesEqual } from '../../shape.js';
import type { GpuStorage } from './buffers.js';
import type { AdapterSummary } from './context.js';
import { ACC, type FusedExpr, type OpExpr, compileExpr, exprWords, leavesOf, numbered } from './fused-expr.js';
import { type GemmProblem, gemm } from './matmul.js';
import { EPILOGUE_WORDS } from './matmul-shaders.js';
import { PARAM_BYTES, at } from './params.js';
import { type GpuQueue, grid } from './queue.js';
import { usesMatmulEpilogues } from './tuning.js';
import { F32_MATH, MAIN_1D, WG, bindings, wgslType } from './wgsl.js';

export type { FusedExpr, OpExpr } from './fused-expr.js';

/**
 * Elementwise fusion by lazy evaluation. An elementwise op whose output is a whole fresh tensor records an
 * expression instead of a dispatch: the output's storage becomes *pending*. An elementwise op reading a pending
 * tensor element for element inlines its expression, so a chain such as silu(a)·b + c becomes one kernel that
 * reads a, b and c once and writes once, where op by op it makes three round trips through memory. A pending
 * tensor is computed (its kernel dispatched) when anything else needs its values: another kernel, a read back,
 * a write into a buffer its expression reads, `webgpuSync`. One disposed while still pending is never computed.
 *
 * A matmul is left pending too, so that the elementwise ops reading its result (linear's bias, an activation, a
 * residual) become its epilogue: the matmul kernel applies them to each element it computes and stores their
 * results, and the product itself only if its tensor is still alive when the kernel runs.
 *
 * A pending tensor is inlined into its first elementwise consumer only; a second one (a backward reading a
 * saved activation, the next step reading an optimiser's moments) computes it into memory first and reads it
 * there. So no work is repeated more than once, and long-lived values do not grow ever longer expressions.
 * Expressions are also capped in size (ops, buffers, parameter words), and the cap is met by computing inputs
 * instead of inlining them.
 *
 * A write into an existing tensor (an optimiser updating a parameter through `assign`) inlines its value's
 * expression, so the whole update is one kernel, and stays pending until the tensor is next read, so that the
 * step's temporaries, disposed by then, are not computed just because they read the old value. It is never
 * inlined itself: a parameter is computed once, not in each of its readers.
 *
 * Values never change meaning: an expression reads storages whose present contents it was defined on (a
 * pending input is inlined or computed first), and before a kernel writes a buffer, every pending expression
 * reading that buffer runs. A storage released while pending expressions read it goes back to the pool only
 * when the last of them is gone.
 *
 * `ENGINE_FUSION=off` turns this off: every op is then dispatched when it is called (for kernel benchmarks and
 * debugging).
 */

/** An elementwise expression whose kernel has not been dispatched yet. */
interface ElementwisePending {
  readonly kind: 'elementwise';
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

/** A matmul not dispatched yet, with the elementwise ops that will run in its kernel. */
interface MatmulPending {
  readonly kind: 'matmul';
  readonly problem: GemmProblem;
  /** The product (its expression is ACC) and the epilogue's outputs: whole tensors, all with `shape`'s size. */
  readonly outputs: { expr: FusedExpr; out: View }[];
  /** The shape the epilogue's leaves are broadcast to (that of its first output). */
  epilogueShape?: readonly number[];
  readonly reads: Set<GpuStorage>;
}

type Pending = ElementwisePending | MatmulPending;

/** Op nodes per kernel: bounds shader size and compile time (lavapipe compiles each new shader with LLVM). */
const MAX_OPS = 24;
/** Outputs of one matmul kernel, the product included. */
const MAX_MATMUL_OUTPUTS = 4;
/** Words of the uniform parameter block (params.ts). */
const PARAM_WORDS = PARAM_BYTES / 4;
/** Read-only buffers a matmul epilogue may add to A and B. */
const MAX_EPILOGUE_READS = 4;

export function fusionFromEnv(env: Record<string, string | undefined> = process.env): boolean {
  const v = (env.ENGINE_FUSION ?? 'on').toLowerCase();
  if (v !== 'on' && v !== 'off') throw new EngineError(`ENGINE_FUSION must be 'on' or 'off', not '${v}'`);
  return v === 'on';
}

export class ElementwiseFusion {
  /** When off, every op is dispatched at once. */
  enabled: boolean = fusionFromEnv();
  private readonly pendingOf = new Map<GpuStorage, Pending>();
  /** Pending kernels reading each storage. */
  private readonly readersOf = new Map<GpuStorage, Set<Pending>>();
  /** Outputs allocated for an op and not yet written (any other output is written in place). */
  private readonly fresh = new WeakSet<GpuStorage>();
  /** Storages released by their tensors but still read by pending kernels. */
  private readonly heldAfterRelease = new Set<GpuStorage>();
  /** Kernels dispatched by this class (for tests and benchmarks). */
  kernels = 0;
  /** Set while this class records its own kernel, whose inputs are read as they are (see `emit`). */
  private emitting = false;

  constructor(
    private readonly queue: GpuQueue,
    private readonly adapter: AdapterSummary,
    private readonly maxReadBuffers: number,
  ) {
    queue.beforeUse = (reads, writes) => this.beforeUse(reads, writes);
  }

  /**
   * `out = root` elementwise over `out`'s shape; `root`'s arguments are leaves on the op's input views. Pending
   * inputs read element for element are inlined, or take the op into their matmul's epilogue; the result is
   * pending when `out` is a whole tensor, and dispatched now otherwise (a slice of a larger output, as cat and
   * pad write).
   */
  record(root: OpExpr, out: View): void {
    if (numel(out.shape) === 0) return;
    const gpuOut = out.storage as GpuStorage;
    const fresh = this.fresh.delete(gpuOut);
    if (this.enabled && fresh && isWhole(out) && this.intoEpilogue(root, out)) return;
    const inlinedHere = new Map<Pending, OpExpr>();
    let expr: OpExpr = { ...root, args: root.args.map((a) => this.inlined(a, out, inlinedHere)) };
    if (!this.fits(expr, out)) expr = { ...root, args: root.args.map((a) => this.computed(a)) };
    if (!this.enabled || !isWhole(out)) return this.emit(expr, out);
    // An earlier pending value of `out` is overwritten before anything read it. Kernels reading the buffer's
    // present contents stay pending: they run before this one is dispatched (see `emit`).
    const old = this.pendingOf.get(gpuOut);
    if (old) this.forget(old);
    const pending: ElementwisePending = { kind: 'elementwise', root: expr, out, reads: new Set(), inlined: false, inPlace: !fresh };
    this.addReads(pending, storagesOf(leavesOf(expr)), gpuOut);
    this.pendingOf.set(gpuOut, pending);
  }

  /**
   * C = A·B into the whole fresh tensor `c`, left pending for an epilogue (dispatched now when fusion is off or
   * the adapter's table has no epilogues).
   */
  recordMatmul(problem: GemmProblem, c: View): void {
    if (!this.enabled || !usesMatmulEpilogues(this.adapter)) return gemm(problem);
    // Its operands are read as they are now: pending values among them are computed first.
    for (const s of [problem.a.storage, problem.b.storage]) {
      const pending = this.pendingOf.get(s);
      if (pending) this.run(pending);
    }
    this.fresh.delete(c.storage as GpuStorage);
    const pending: MatmulPending = { kind: 'matmul', problem, outputs: [{ expr: ACC, out: c }], reads: new Set() };
    this.addReads(pending, [problem.a.storage, problem.b.storage], c.storage as GpuStorage);
    this.pendingOf.set(c.storage as GpuStorage, pending);
  }

  /** Called by the backend for an op's output storage, before the op's kernel writes it. */
  noteFresh(s: GpuStorage): void {
    this.fresh.add(s);
  }

  /** Called by the backend when no tensor refers to `s` any more; false while pending kernels still read it. */
  release(s: GpuStorage): boolean {
    const pending = this.pendingOf.get(s);
    if (pending?.kind === 'elementwise') this.forget(pending);
    else if (pending) {
      // The kernel no longer stores this output; with none left, nothing needs it.
      const at = pending.outputs.findIndex((o) => o.out.storage === s);
      pending.outputs.splice(at, 1);
      this.pendingOf.delete(s);
      if (pending.outputs.length === 0) this.forget(pending);
    }
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

  /** Storages whose values are pending (for tests and leak reports). */
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

  /** Runs the pending kernels that read `s`, before something overwrites it. */
  private runReaders(s: GpuStorage): void {
    const readers = this.readersOf.get(s);
    if (readers) for (const reader of [...readers]) this.run(reader);
  }

  private addReads(pending: Pending, storages: readonly GpuStorage[], own: GpuStorage): void {
    for (const s of storages) {
      if (s === own || pending.reads.has(s)) continue;
      pending.reads.add(s);
      let readers = this.readersOf.get(s);
      if (!readers) this.readersOf.set(s, (readers = new Set()));
      readers.add(pending);
    }
  }

  /**
   * Adds `out = root` to the epilogue of a pending matmul that one of its arguments is an output of (read
   * element for element); false when there is none or it does not fit.
   */
  private intoEpilogue(root: OpExpr, out: View): boolean {
    const index = root.args.findIndex((a) => a.kind === 'leaf' && this.pendingOf.get(a.view.storage as GpuStorage)?.kind === 'matmul');
    if (index < 0) return false;
    const view = (root.args[index] as { view: View }).view;
    const matmul = this.pendingOf.get(view.storage as GpuStorage) as MatmulPending;
    const shape = matmul.epilogueShape ?? out.shape;
    if (!isWhole(view) || numel(view.shape) !== numel(out.shape) || !shapesEqual(shape, out.shape) || matmul.outputs.length >= MAX_MATMUL_OUTPUTS) return false;
    // Another pending product among the arguments (or this one read again) would have to run first.
    const others = root.args.filter((_, k) => k !== index) as { view: View }[];
    if (others.some((a) => this.pendingOf.get(a.view.storage as GpuStorage)?.kind === 'matmul')) return false;
    const source = matmul.outputs.find((o) => o.out.storage === view.storage)!;
    // The other arguments are leaves of the epilogue: their own pending values are computed first.
    const args = root.args.map((a, k) => (k === index ? source.expr : this.computed(a)));
    const expr: OpExpr = { ...root, args };
    const roots = [...matmul.outputs.map((o) => o.expr), expr];
    const { ops, leaves } = numbered(roots);
    const buffers = new Set(leaves.map((l) => l.storage));
    const fits =
      ops.length <= MAX_OPS &&
      buffers.size <= Math.min(MAX_EPILOGUE_READS, this.maxReadBuffers - 2) &&
      !leaves.some((l) => this.pendingOf.has(l.storage as GpuStorage)) &&
      exprWords(leaves.length, out.shape.length, ops) <= EPILOGUE_WORDS;
    if (!fits) return false;
    matmul.epilogueShape = shape;
    matmul.outputs.push({ expr, out });
    this.addReads(matmul, storagesOf(leaves), out.storage as GpuStorage);
    this.pendingOf.set(out.storage as GpuStorage, matmul);
    return true;
  }

  /**
   * The argument as the consumer writing `out` will read it: a pending input's expression where it can be
   * inlined (`inlinedHere` keeps an input read twice by one op one node).
   */
  private inlined(arg: FusedExpr, out: View, inlinedHere: Map<Pending, OpExpr>): FusedExpr {
    if (arg.kind !== 'leaf') return arg;
    const pending = this.pendingOf.get(arg.view.storage as GpuStorage);
    if (!pending) return arg;
    if (pending.kind === 'matmul') {
      this.run(pending);
      return arg;
    }
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
    const { ops, leaves } = numbered([expr]);
    const buffers = new Set(leaves.map((l) => l.storage)).size;
    return ops.length <= MAX_OPS && buffers <= this.maxReadBuffers && 1 + exprWords(leaves.length + 1, out.shape.length, ops) <= PARAM_WORDS;
  }

  private run(pending: Pending): void {
    this.forget(pending);
    if (pending.kind === 'elementwise') this.emit(pending.root, pending.out);
    else this.emitMatmul(pending);
  }

  /** Drops a pending kernel: its outputs no longer wait for it, and the storages it read may be let go. */
  private forget(pending: Pending): void {
    const outs = pending.kind === 'elementwise' ? [pending.out] : pending.outputs.map((o) => o.out);
    for (const out of outs) this.pendingOf.delete(out.storage as GpuStorage);
    for (const s of pending.reads) {
      const readers = this.readersOf.get(s)!;
      readers.delete(pending);
      if (readers.size) continue;
      this.readersOf.delete(s);
      if (this.heldAfterRelease.delete(s)) this.queue.pool.release(s, this.queue.batch);
    }
  }

  /** Records one of this class's kernels: its inputs are read as they are now, even where a new value is pending. */
  private record1(writes: readonly GpuStorage[], dispatch: () => void): void {
    for (const s of writes) this.runReaders(s);
    this.kernels++;
    this.emitting = true;
    try {
      dispatch();
    } finally {
      this.emitting = false;
    }
  }

  /** Records the kernel computing `expr` into `out` (any strided view; leaves broadcast to its shape). */
  private emit(expr: OpExpr, out: View): void {
    const gpuOut = out.storage as GpuStorage;
    // Each distinct storage is bound once; a leaf on `out`'s own storage reads the element about to be written.
    const reads: GpuStorage[] = [];
    for (const l of leavesOf(expr)) if (l.storage !== gpuOut && !reads.includes(l.storage as GpuStorage)) reads.push(l.storage as GpuStorage);
    const source = (v: View) => (v.storage === gpuOut ? 'out' : `in${reads.indexOf(v.storage as GpuStorage)}`);
    const n = numel(out.shape);
    const code = compileExpr([expr], [out], out.shape, 'i', source, (k) => at('p.w', 1 + k));
    const words = [n, ...code.words];
    if (words.length > PARAM_WORDS) throw new EngineError(`WebGPU fusion: ${words.length} parameter words exceed ${PARAM_WORDS}`);
    const params = new Uint32Array(PARAM_WORDS);
    words.forEach((w, k) => (params[k] = w >>> 0));
    const readTypes = reads.map((s) => wgslType(s.dtype));
    const outType = wgslType(out.dtype);
    this.record1([gpuOut], () =>
      this.queue.dispatch({
        key: `fused:${readTypes.join('')}>${outType}|${code.key}`,
        code: () =>
          `struct Params { w: array<vec4<u32>, ${PARAM_WORDS / 4}>, }\n` +
          bindings(
            reads.map((_, k) => [`in${k}`, readTypes[k]!]),
            [['out', outType]],
          ) +
          F32_MATH +
          MAIN_1D +
          `\n  if (i >= ${at('p.w', 0)}) { return; }\n` +
          code.body +
          `  out[off${numbered([expr]).leaves.length}] = ${code.name(expr)};\n}\n`,
        reads,
        writes: [gpuOut],
        params,
        workgroups: grid(Math.ceil(n / WG)),
        cost: n * (reads.length + 2),
      }),
    );
  }

  /** Records a matmul kernel storing the product (if still wanted) and its epilogue's outputs. */
  private emitMatmul(pending: MatmulPending): void {
    const { problem, outputs } = pending;
    const writes = outputs.map((o) => o.out.storage as GpuStorage);
    if (outputs.length === 1 && outputs[0]!.expr === ACC) return this.record1(writes, () => gemm(problem));
    const roots = outputs.map((o) => o.expr);
    const reads: GpuStorage[] = [];
    for (const l of leavesOf(...roots)) if (!reads.includes(l.storage as GpuStorage)) reads.push(l.storage as GpuStorage);
    const source = (v: View) => `e${reads.indexOf(v.storage as GpuStorage)}`;
    const word = (k: number) => (k < 8 ? at('p.ep0', k) : at('p.ep1', k - 8));
    // Lazily recorded products are whole tensors from element 0: element `at` of C is flat index `at` of each output.
    const code = compileExpr(roots, [], pending.epilogueShape!, 'at', source, word);
    const outTypes = outputs.map((o) => wgslType(o.out.dtype));
    const stores = outputs.map((o, k) => `  o${k}[at] = ${code.name(o.expr)};\n`).join('');
    this.record1(writes, () =>
      gemm(problem, {
        shader: {
          key: `${outTypes.join('')}|${code.key}`,
          reads: reads.map((s, k) => [`e${k}`, wgslType(s.dtype)]),
          writes: outputs.map((_, k) => [`o${k}`, outTypes[k]!]),
          store: code.body + stores,
        },
        reads,
        writes,
        words: code.words,
      }),
    );
  }
}

const storagesOf = (views: readonly View[]) => views.map((v) => v.storage as GpuStorage);

/** The whole of its storage, contiguous from element 0: a tensor a kernel may leave pending. */
function isWhole(v: View): boolean {
  return v.offset === 0 && isContiguous(v.shape, v.strides) && v.storage.length === numel(v.shape);
}
