import type { View } from '../../backend.js';

/**
 * Offsets of a strided view's elements when walked in the row-major order of `shape` (which may be the
 * broadcast shape: the view's leading missing dims and its size-1 dims then get stride 0).
 */
export function broadcastStrides(view: View, shape: readonly number[]): number[] {
  const rank = shape.length;
  const out = new Array<number>(rank).fill(0);
  const lead = rank - view.shape.length;
  for (let i = 0; i < view.shape.length; i++) {
    out[lead + i] = view.shape[i] === 1 ? 0 : view.strides[i]!;
  }
  return out;
}

/**
 * Fills `offsets[k][i]`, the storage offset of element i (row-major over `shape`) in each of the views. The
 * innermost dim is a plain strided run per view; an odometer steps the outer dims, so each element costs one
 * add instead of a division per dim.
 */
export function elementOffsets(views: readonly View[], shape: readonly number[]): Int32Array[] {
  const n = shape.reduce((a, b) => a * b, 1);
  const out = views.map(() => new Int32Array(n));
  if (n === 0) return out;
  const rank = shape.length;
  const strides = views.map((v) => broadcastStrides(v, shape));
  const pos = views.map((v) => v.offset);
  const inner = rank === 0 ? 1 : shape[rank - 1]!;
  const idx = new Array<number>(rank).fill(0);
  for (let base = 0; base < n; base += inner) {
    for (let k = 0; k < views.length; k++) {
      const run = out[k]!;
      const step = rank === 0 ? 0 : strides[k]![rank - 1]!;
      let p = pos[k]!;
      for (let j = 0; j < inner; j++, p += step) run[base + j] = p;
    }
    for (let d = rank - 2; d >= 0; d--) {
      idx[d]!++;
      for (let k = 0; k < views.length; k++) pos[k]! += strides[k]![d]!;
      if (idx[d]! < shape[d]!) break;
      for (let k = 0; k < views.length; k++) pos[k]! -= strides[k]![d]! * shape[d]!;
      idx[d] = 0;
    }
  }
  return out;
}

/** True when the view is contiguous and has exactly `shape`, so element i sits at offset + i. */
export function isDense(view: View, shape: readonly number[]): boolean {
  if (view.shape.length !== shape.length) return false;
  let expected = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    if (view.shape[i] !== shape[i]) return false;
    if (shape[i] !== 1 && view.strides[i] !== expected) return false;
    expected *= shape[i]!;
  }
  return true;
}

/**
 * A walk over the row-major order of `shape` as runs along its innermost dim, for several views at once: run r of
 * view k starts at `starts[k][r]` and steps by `steps[k]`, `inner` elements long. Kernels loop over runs and
 * then along each run, so they need a table of one offset per run instead of one per element.
 */
export interface RunPlan {
  inner: number;
  steps: number[];
  starts: Int32Array[];
}

/**
 * The runs of `views` over `shape`. Dims of size 1 are dropped and neighbouring dims merged wherever every view
 * steps over them as over one dim, so the runs are as long as the layouts allow (a dense operand and a broadcast
 * row over [B, T, C] give B·T runs of C; two dense operands give one run).
 */
export function runPlan(views: readonly View[], shape: readonly number[]): RunPlan {
  const strides = views.map((v) => broadcastStrides(v, shape));
  const dims: number[] = [];
  const merged: number[][] = views.map(() => []);
  for (let d = 0; d < shape.length; d++) {
    if (shape[d] === 1) continue;
    const last = dims.length - 1;
    const joins = last >= 0 && strides.every((s, k) => merged[k]![last] === s[d]! * shape[d]!);
    if (joins) {
      dims[last]! *= shape[d]!;
      strides.forEach((s, k) => (merged[k]![last] = s[d]!));
    } else {
      dims.push(shape[d]!);
      strides.forEach((s, k) => merged[k]!.push(s[d]!));
    }
  }
  const n = shape.reduce((a, b) => a * b, 1);
  if (dims.length === 0) return { inner: n, steps: views.map(() => 0), starts: views.map((v) => Int32Array.of(v.offset)) };
  const inner = dims[dims.length - 1]!;
  const outerShape = dims.slice(0, -1);
  const outerViews = views.map((v, k) => ({ ...v, shape: outerShape, strides: merged[k]!.slice(0, -1) }));
  return { inner, steps: merged.map((s) => s[s.length - 1]!), starts: n === 0 ? views.map(() => new Int32Array(0)) : elementOffsets(outerViews, outerShape) };
}
