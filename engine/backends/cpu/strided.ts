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
