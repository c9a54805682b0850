import type { Kernel, View } from '../../backend.js';
import { type RowOp, extra, rowKernel } from './rows.js';

/**
 * Fused normalisation layers, forward only: autograd differentiates their composite definitions
 * (engine/ops/norm.ts), whose arithmetic these kernels follow (biased variance, ε inside the square root).
 * Inputs are [x, weight?, bias?] as the attributes say.
 */

interface NormAttrs {
  hasWeight: boolean;
  hasBias: boolean;
  eps: number;
  normalizedShape?: readonly number[];
  numGroups?: number;
}

/** x's weight and bias, by name, and the WGSL of `value · weight[c] + bias[c]`. */
function affine(inputs: readonly View[], attrs: NormAttrs, value: string, channel: string) {
  const extras: RowOp['extras'] = [];
  let expr = value;
  if (attrs.hasWeight) {
    extras.push({ name: 'weight', view: inputs[1]! });
    expr = `${expr} * ${extra('weight', 0, channel)}`;
  }
  if (attrs.hasBias) {
    extras.push({ name: 'bias', view: inputs[attrs.hasWeight ? 2 : 1]! });
    expr = `${expr} + ${extra('bias', extras.length - 1, channel)}`;
  }
  return { extras, expr, variant: `${+attrs.hasWeight}${+attrs.hasBias}` };
}

const SUM = { init: 'vec2<f32>(0.0)', combine: 'sum' as const };

/** Standardisation: the mean, then the mean square deviation from it (two passes, no cancellation). */
const standardize = [
  { ...SUM, update: '      acc.x += v;', result: '  let mean = total.x / f32(p.len);' },
  { ...SUM, update: '      let d = v - mean;\n      acc.x += d * d;', result: '  let inv_std = rsqrt_(total.x / f32(p.len) + p.eps);' },
];

const trailingRows = (x: View, normalized: readonly number[]) => {
  const len = normalized.reduce((a, b) => a * b, 1);
  return { rows: x.shape.reduce((a, b) => a * b, 1) / Math.max(1, len), len };
};

const layerNorm: Kernel<NormAttrs> = (inputs, [out], attrs) => {
  const x = inputs[0]!;
  const { extras, expr, variant } = affine(inputs, attrs, '(v - mean) * inv_std', 'j');
  const { rows, len } = trailingRows(x, attrs.normalizedShape!);
  rowKernel({ key: `layer_norm${variant}`, passes: standardize, write: expr, extras, eps: attrs.eps }, x, out!, rows, len, 1);
};

const rmsNorm: Kernel<NormAttrs> = (inputs, [out], attrs) => {
  const x = inputs[0]!;
  const { extras, expr, variant } = affine(inputs, attrs, 'v * inv_rms', 'j');
  const { rows, len } = trailingRows(x, attrs.normalizedShape!);
  const meanSquare = { ...SUM, update: '      acc.x += v * v;', result: '  let inv_rms = rsqrt_(total.x / f32(p.len) + p.eps);' };
  rowKernel({ key: `rms_norm${variant}`, passes: [meanSquare], write: expr, extras, eps: attrs.eps }, x, out!, rows, len, 1);
};

/** Rows are (sample, group); element j of row r belongs to channel (r mod G)·(C/G) + j / positions. */
const groupNorm: Kernel<NormAttrs> = (inputs, [out], attrs) => {
  const x = inputs[0]!;
  const [batch, channels] = x.shape as [number, number];
  const groups = attrs.numGroups!;
  const positions = x.shape.slice(2).reduce((a, b) => a * b, 1);
  const channel = '((r % p.k0) * (p.len / p.k1) + j / p.k1)';
  const { extras, expr, variant } = affine(inputs, attrs, '(v - mean) * inv_std', channel);
  const op: RowOp = { key: `group_norm${variant}`, passes: standardize, write: expr, extras, eps: attrs.eps, ints: [groups, positions] };
  rowKernel(op, x, out!, batch * groups, (channels / groups) * positions, 1);
};

export const normKernels: Record<string, Kernel> = { layer_norm: layerNorm, rms_norm: rmsNorm, group_norm: groupNorm };
