import type { Kernel } from '../../backend.js';
import { dataOf } from './storage.js';
import { contiguousStrides } from '../../shape.js';

interface PadAttrs {
  before: readonly number[];
  value: number;
}

/** Fills the output with the pad value, then copies the input block to its place. */
const pad: Kernel<PadAttrs> = ([x], [out], { before, value }) => {
  const src = dataOf(x!);
  const dst = dataOf(out!);
  dst.fill(value);
  const outStrides = contiguousStrides(out!.shape);
  const rank = x!.shape.length;
  const n = src.length === 0 ? 0 : x!.shape.reduce((a, b) => a * b, 1);
  const idx = new Array<number>(rank).fill(0);
  let pos = before.reduce((acc, b, d) => acc + b * outStrides[d]!, 0);
  for (let i = 0; i < n; i++) {
    dst[pos] = src[x!.offset + i]!;
    for (let d = rank - 1; d >= 0; d--) {
      idx[d]!++;
      pos += outStrides[d]!;
      if (idx[d]! < x!.shape[d]!) break;
      pos -= outStrides[d]! * x!.shape[d]!;
      idx[d] = 0;
    }
  }
};

export const shapeKernels: Record<string, Kernel> = { pad };
