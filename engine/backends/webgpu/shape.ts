import type { Kernel, View } from '../../backend.js';
import { contiguousStrides } from '../../shape.js';
import { fill } from './creation.js';
import { elementwise } from './elementwise.js';

/**
 * Shape ops that move data, as strided copies (the elementwise `copy` with a view on either side): pad fills
 * the output and copies the input into its interior, cat copies each input into its stretch of the output,
 * flip reads the input through a view that walks the flipped dims backwards.
 */

/** The block of the contiguous tensor `out` that starts at `corner` and has `shape`. */
function block(out: View, corner: readonly number[], shape: readonly number[]): View {
  const strides = contiguousStrides(out.shape);
  return { ...out, shape, strides, offset: out.offset + corner.reduce((acc, c, d) => acc + c * strides[d]!, 0) };
}

const pad: Kernel<{ before: readonly number[]; value: number }> = ([x], [out], { before, value }) => {
  fill(out!, value);
  elementwise('copy', [x!], block(out!, before, x!.shape));
};

const cat: Kernel<{ dim: number }> = (inputs, [out], { dim }) => {
  let start = 0;
  for (const x of inputs) {
    elementwise('copy', [x], block(out!, out!.shape.map((_, d) => (d === dim ? start : 0)), x.shape));
    start += x.shape[dim]!;
  }
};

const flip: Kernel<{ dims: readonly number[] }> = ([x], [out], { dims }) => {
  const reversed: View = {
    ...x!,
    strides: x!.strides.map((s, d) => (dims.includes(d) ? -s : s)),
    offset: dims.reduce((offset, d) => offset + (x!.shape[d]! - 1) * x!.strides[d]!, x!.offset),
  };
  elementwise('copy', [reversed], out!);
};

export const shapeKernels: Record<string, Kernel> = { pad, cat, flip };
