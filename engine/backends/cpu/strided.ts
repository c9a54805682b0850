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
 * Fills `offsets[k][i]`, the storage offset of element i (row-major over `shape`) in each of the views, using
 * an odometer so that each step costs O(1) amortised instead of a division per dim.
 */
export function elementOffsets(views: readonly View[], shape: readonly number[]): Int32Array[] {
  const n = shape.reduce((a, b) => a * b, 1);
  const rank = shape.length;
  const strides = views.map((v) => broadcastStrides(v, shape));
  const out = views.map(() => new Int32Array(n));
  const pos = views.map((v) => v.offset);
  const idx = new Array<number>(rank).fill(0);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < views.length; k++) out[k]![i] = pos[k]!;
    for (let d = rank - 1; d >= 0; d--) {
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
