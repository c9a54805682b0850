import type { Kernel, View } from '../../backend.js';
import { dataOf } from './storage.js';
import { elementOffsets } from './strided.js';
import { contiguousStrides, numel } from '../../shape.js';

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

/**
 * Seen as rows (the dims before `dim`) of blocks (the rest), each output row is the inputs' rows laid end to end.
 * Inputs are contiguous, so every block is one run of memory.
 */
const cat: Kernel<{ dim: number }> = (inputs, [out], { dim }) => {
  const dst = dataOf(out!);
  const rows = numel(out!.shape.slice(0, dim));
  const inner = numel(out!.shape.slice(dim + 1));
  let pos = 0;
  for (let r = 0; r < rows; r++) {
    for (const x of inputs) {
      const block = x.shape[dim]! * inner;
      const start = x.offset + r * block;
      dst.set(dataOf(x).subarray(start, start + block), pos);
      pos += block;
    }
  }
};

/** Reads the input through a view whose flipped dims start at their last element and step backwards. */
const flip: Kernel<{ dims: readonly number[] }> = ([x], [out], { dims }) => {
  const reversed: View = {
    storage: x!.storage,
    dtype: x!.dtype,
    shape: x!.shape,
    strides: x!.strides.map((s, d) => (dims.includes(d) ? -s : s)),
    offset: dims.reduce((offset, d) => offset + (x!.shape[d]! - 1) * x!.strides[d]!, x!.offset),
  };
  const [from] = elementOffsets([reversed], out!.shape);
  const src = dataOf(x!);
  const dst = dataOf(out!);
  for (let i = 0; i < dst.length; i++) dst[i] = src[from![i]!]!;
};

export const shapeKernels: Record<string, Kernel> = { pad, cat, flip };
