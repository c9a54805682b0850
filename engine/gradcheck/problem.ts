import { getBackend } from '../backend.js';
import type { DType } from '../dtype.js';
import { isFloat } from '../dtype.js';
import { EngineError, fmtShape } from '../errors.js';
import { grad } from '../autograd/functional.js';
import { enableGrad, noGrad } from '../autograd/mode.js';
import { cast } from '../ops/elementwise.js';
import { detach } from '../ops/view.js';
import { shapesEqual } from '../shape.js';
import { type Tensor, fromArray } from '../tensor.js';
import type { Fn, GradcheckOptions } from './types.js';

/**
 * What every scheme works on: F, the function `fn` seen as a map from the checked inputs to the flat vector of
 * its float outputs. The analytical side (pullbacks vᵀJ) runs in the inputs' own dtype and backend; the
 * numerical side always runs in float64 on the CPU, on the same input values ("lifted"), so a float32 kernel
 * is judged against exact arithmetic rather than against its own rounding.
 */

/** A float output of `fn`, at `offset` in the flat output vector. */
export interface Slot {
  output: number;
  shape: readonly number[];
  offset: number;
  size: number;
}

/** Per checked input (in `wrt` order): how far to move each element, or null to leave the input alone. */
export type Direction = readonly (Float64Array | null)[];

const EPS64 = 2 ** -52;

/** h = 2^round(log2(cbrt(ε₆₄)·max(1,|x|))): 2^-17 for |x| ≤ 1. A power of two, so x ± h is exact for dyadic x. */
export function autoStep(x: number): number {
  return 2 ** Math.round(Math.log2(Math.cbrt(EPS64) * Math.max(1, Math.abs(x))));
}

export function outputsOf(fn: Fn, xs: readonly Tensor[]): Tensor[] {
  const y = fn(...xs);
  return Array.isArray(y) ? y : [y];
}

export function floatInputs(inputs: readonly Tensor[]): number[] {
  return inputs.flatMap((t, i) => (isFloat(t.dtype) ? [i] : []));
}

export function unravel(flat: number, shape: readonly number[]): number[] {
  const idx = new Array<number>(shape.length).fill(0);
  for (let d = shape.length - 1; d >= 0; d--) {
    idx[d] = flat % shape[d]!;
    flat = Math.floor(flat / shape[d]!);
  }
  return idx;
}

export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

export class Problem {
  readonly name: string;
  /** Indices of the checked inputs. */
  readonly wrt: readonly number[];
  /** dtype and backend of the analytical side. */
  readonly dtype: DType;
  readonly backend: string;
  /** Every input's values in float64 (integer inputs too). */
  readonly base: readonly Float64Array[];
  readonly slots: readonly Slot[];
  readonly outSize: number;
  /** F(x), lifted. */
  readonly center: Float64Array;
  readonly inputNames: readonly string[];

  private readonly lifted: Tensor[];
  private readonly leaves: Tensor[];
  private readonly outs: Tensor[];

  constructor(
    readonly fn: Fn,
    readonly inputs: readonly Tensor[],
    readonly opts: GradcheckOptions,
  ) {
    this.wrt = opts.wrt ?? floatInputs(inputs);
    for (const i of this.wrt) {
      const x = inputs[i];
      if (!x || !isFloat(x.dtype)) throw new EngineError(`gradcheck: wrt index ${i} is not a float input (inputs: ${inputs.map((t) => t.dtype).join(', ')})`);
    }
    this.name = opts.name ?? (fn.name || 'fn');
    this.inputNames = inputs.map((_, i) => opts.inputNames?.[i] ?? `x${i}`);
    const checked = this.wrt.map((i) => inputs[i]!);
    this.dtype = checked[0]?.dtype ?? inputs.find((t) => isFloat(t.dtype))?.dtype ?? 'float64';
    this.backend = `${(checked[0] ?? inputs[0])?.backend.name ?? 'cpu'}-${this.dtype === 'float32' ? 'f32' : 'f64'}`;

    this.base = inputs.map((x) => Float64Array.from(x.toArraySync()));
    const cpu = getBackend('cpu');
    this.lifted = inputs.map((x, i) => fromArray(this.base[i]!, x.shape, { dtype: isFloat(x.dtype) ? 'float64' : x.dtype, backend: cpu }));

    const wrt = new Set(this.wrt);
    this.leaves = inputs.map((x, i) => (wrt.has(i) ? detach(x).requiresGrad_() : x));
    const all = enableGrad(() => outputsOf(fn, this.leaves));
    this.outs = all.filter((o) => isFloat(o.dtype));
    let offset = 0;
    this.slots = all.flatMap((o, output) => {
      if (!isFloat(o.dtype)) return [];
      const slot = { output, shape: o.shape, offset, size: o.size };
      offset += o.size;
      return [slot];
    });
    this.outSize = offset;
    this.center = this.evaluate(this.lifted);
  }

  /** F(x + t·u), in float64 on the CPU. */
  along(u: Direction, t: number): Float64Array {
    const xs = [...this.lifted];
    this.wrt.forEach((i, w) => {
      const d = u[w];
      if (!d) return;
      const moved = Float64Array.from(this.base[i]!);
      for (let j = 0; j < moved.length; j++) moved[j] = moved[j]! + t * d[j]!;
      xs[i] = fromArray(moved, this.inputs[i]!.shape, { dtype: 'float64', backend: this.lifted[i]!.backend });
    });
    return this.evaluate(xs);
  }

  /** vᵀJ for a flat output weight v: one gradient per checked input, from the analytical side. */
  pullback(v: Float64Array): Float64Array[] {
    const seeds = this.slots.map((s, k) => fromArray(v.subarray(s.offset, s.offset + s.size), s.shape, { dtype: this.outs[k]!.dtype, backend: this.outs[k]!.backend }));
    const grads = grad(this.outs, this.wrt.map((i) => this.leaves[i]!), seeds, { retainGraph: true, allowUnused: true });
    return grads.map((g) => Float64Array.from(g.toArraySync()));
  }

  /** max(1, |y_k|): the scale of output element k that atol is relative to. */
  scaleOf(k: number): number {
    return Math.max(1, Math.abs(this.center[k]!));
  }

  /** The FD step for moving elements whose largest magnitude is |x|. */
  stepFor(x: number): number {
    const eps = this.opts.eps;
    return eps === undefined || eps === 'auto' ? autoStep(x) : eps;
  }

  /** Which output, and where in it, flat element k is. */
  locate(k: number): { slot: Slot; index: number[] } {
    const slot = this.slots.find((s) => k >= s.offset && k < s.offset + s.size)!;
    return { slot, index: unravel(k - slot.offset, slot.shape) };
  }

  /** Number of Jacobian entries over the checked inputs and float outputs. */
  get jacobianSize(): number {
    return this.wrt.reduce((n, i) => n + this.inputs[i]!.size, 0) * this.outSize;
  }

  private evaluate(xs: readonly Tensor[]): Float64Array {
    const outs = noGrad(() => outputsOf(this.fn, xs).filter((o) => isFloat(o.dtype)));
    const flat = new Float64Array(this.outSize);
    outs.forEach((o, k) => {
      const slot = this.slots[k];
      if (!slot || !shapesEqual(o.shape, slot.shape)) {
        throw new EngineError(`gradcheck: ${this.name} gives output ${k} of shape ${fmtShape(o.shape)} in float64 but ${slot ? fmtShape(slot.shape) : 'no such output'} on the checked path`);
      }
      flat.set(noGrad(() => cast(o, 'float64')).toArraySync(), slot.offset);
    });
    return flat;
  }
}

/**
 * `fn` as a function of its checked inputs alone (the others held at `inputs`), returning its float outputs
 * alone: the shape that `vjp` and `jvp` need, since integer tensors cannot carry gradients.
 */
export function restrict(fn: Fn, inputs: readonly Tensor[], wrt: readonly number[]): (...xs: Tensor[]) => Tensor[] {
  return (...xs) => {
    const all = [...inputs];
    wrt.forEach((i, k) => (all[i] = xs[k]!));
    return outputsOf(fn, all).filter((o) => isFloat(o.dtype));
  };
}
