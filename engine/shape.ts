import { OpInputError, fmtShape } from './errors.js';

export type Shape = readonly number[];

export function numel(shape: Shape): number {
  let n = 1;
  for (const s of shape) n *= s;
  return n;
}

/** Row-major strides of a contiguous tensor. */
export function contiguousStrides(shape: Shape): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i]!;
  }
  return strides;
}

export function isContiguous(shape: Shape, strides: readonly number[]): boolean {
  let expected = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    if (shape[i] !== 1 && strides[i] !== expected) return false;
    expected *= shape[i]!;
  }
  return true;
}

export function shapesEqual(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** NumPy broadcasting of any number of shapes. */
export function broadcastShapes(op: string, ...shapes: Shape[]): number[] {
  const rank = Math.max(0, ...shapes.map((s) => s.length));
  const out = new Array<number>(rank).fill(1);
  for (const s of shapes) {
    for (let i = 0; i < s.length; i++) {
      const o = rank - s.length + i;
      const d = s[i]!;
      if (d === out[o] || d === 1) continue;
      if (out[o] === 1) out[o] = d;
      else throw new OpInputError(op, `shapes ${shapes.map(fmtShape).join(' and ')} cannot be broadcast together (dim ${o})`, shapes);
    }
  }
  return out;
}

/** Resolves a possibly negative dim against a rank, PyTorch style. */
export function normalizeDim(op: string, dim: number, rank: number, shape?: Shape): number {
  const r = Math.max(rank, 1);
  if (!Number.isInteger(dim) || dim < -r || dim >= r) {
    throw new OpInputError(op, `dim ${dim} is out of range for a tensor of rank ${rank}`, shape ? [shape] : []);
  }
  return dim < 0 ? dim + r : dim;
}

/** Resolves `dims` (undefined = all) into a sorted list of unique non-negative dims. */
export function normalizeDims(op: string, dims: number | readonly number[] | undefined, rank: number, shape?: Shape): number[] {
  if (dims === undefined) return Array.from({ length: rank }, (_, i) => i);
  const list = typeof dims === 'number' ? [dims] : dims;
  const out = [...new Set(list.map((d) => normalizeDim(op, d, rank, shape)))].sort((a, b) => a - b);
  if (out.length !== list.length) throw new OpInputError(op, `dims ${JSON.stringify(list)} repeat a dim`, shape ? [shape] : []);
  return rank === 0 ? [] : out;
}

/** The shape after reducing `dims`, with or without keeping them as size 1. */
export function reducedShape(shape: Shape, dims: readonly number[], keepdim: boolean): number[] {
  const out: number[] = [];
  shape.forEach((s, i) => {
    if (dims.includes(i)) {
      if (keepdim) out.push(1);
    } else out.push(s);
  });
  return out;
}
