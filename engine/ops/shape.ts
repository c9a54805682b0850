import { OpInputError } from '../errors.js';
import { defineOp, run1 } from '../op.js';
import type { Tensor } from '../tensor.js';
import { narrow } from './view.js';

/*
 * Shape ops that move data: pad, cat, stack, split/chunk, flip, repeat.
 */

/* ---------------------------------------------------------------- pad */

interface PadAttrs {
  /** Per dim, elements added before and after (non-negative; cropping is done with narrow). */
  before: readonly number[];
  after: readonly number[];
  value: number;
}

const padDef = defineOp<PadAttrs>({
  name: 'pad',
  family: 'shape',
  kind: 'kernel',
  infer: ([x], { before, after }) => [{ shape: x!.shape.map((s, i) => s + before[i]! + after[i]!), dtype: x!.dtype }],
  backward: ({ inputs: [x], attrs: { before } }, [g]) => {
    let out = g!;
    x!.shape.forEach((s, d) => (out = narrow(out, d, before[d]!, s)));
    return [out];
  },
});

/**
 * Constant padding with PyTorch's `F.pad` layout: `pads` = [left, right] of the last dim, then of the one before,
 * and so on. Amounts may differ on each side (asymmetric) and may be negative (cropping).
 */
export function pad(x: Tensor, pads: readonly number[], value = 0): Tensor {
  if (pads.length % 2 !== 0 || pads.length > 2 * x.rank || pads.some((p) => !Number.isInteger(p))) {
    throw new OpInputError('pad', `pads ${JSON.stringify(pads)} must be pairs of integers, at most one pair per dim`, [x.shape]);
  }
  const before = new Array<number>(x.rank).fill(0);
  const after = new Array<number>(x.rank).fill(0);
  for (let k = 0; k < pads.length / 2; k++) {
    const d = x.rank - 1 - k;
    before[d] = pads[2 * k]!;
    after[d] = pads[2 * k + 1]!;
    if (x.shape[d]! + before[d]! + after[d]! < 0) throw new OpInputError('pad', `pads ${JSON.stringify(pads)} crop dim ${d} below size 0`, [x.shape]);
  }
  let cropped = x;
  for (let d = 0; d < x.rank; d++) {
    const lo = Math.max(0, -before[d]!);
    const hi = Math.max(0, -after[d]!);
    if (lo || hi) cropped = narrow(cropped, d, lo, cropped.shape[d]! - lo - hi);
  }
  const grow = { before: before.map((p) => Math.max(0, p)), after: after.map((p) => Math.max(0, p)), value };
  if (grow.before.every((p) => p === 0) && grow.after.every((p) => p === 0)) return cropped;
  return run1(padDef, [cropped], grow);
}
