import { isFloat } from '../dtype.js';
import { OpInputError } from '../errors.js';
import { defineOp, run1 } from '../op.js';
import type { OutputSpec } from '../op.js';
import { type Tensor, fromArray } from '../tensor.js';
import { full } from './creation.js';
import { add } from './elementwise.js';
import { matmul } from './matmul.js';
import { expand, reshape, transpose } from './view.js';
import { sameDType } from './util.js';

/*
 * 2-D convolution (cross-correlation, as in PyTorch) over [N, C, H, W] tensors, and the pooling and resampling
 * layers built from it. A convolution is bilinear in its input and weight, so its two gradients are themselves
 * convolutions: three kernel ops, conv2d, conv2d_input_grad (the transposed convolution of the output gradient
 * with the weight) and conv2d_weight_grad (the correlation of the input with the output gradient), whose
 * backward rules are written with each other. Every order of derivative therefore stays within these three.
 */

type Pair = readonly [number, number];

export interface Conv2dOptions {
  stride?: number | Pair;
  /** Zero padding: one amount for all sides, [vertical, horizontal], or [top, bottom, left, right]. */
  padding?: number | Pair | readonly [number, number, number, number];
  dilation?: number | Pair;
  groups?: number;
}

/** The normalised geometry that the kernels read. */
export interface Conv2dAttrs {
  stride: Pair;
  /** [top, bottom, left, right] */
  padding: readonly [number, number, number, number];
  dilation: Pair;
  groups: number;
}

interface InputGradAttrs extends Conv2dAttrs {
  /** [H, W] of the convolution's input (several sizes give the same output size when the stride is > 1). */
  inputSize: Pair;
}

interface WeightGradAttrs extends Conv2dAttrs {
  kernelSize: Pair;
}

type Shapes = readonly (readonly number[])[];

function pair(op: string, name: string, v: number | Pair, min: number, shapes: Shapes): Pair {
  const p: Pair = typeof v === 'number' ? [v, v] : v;
  if (p.length !== 2 || !p.every((s) => Number.isInteger(s) && s >= min)) {
    throw new OpInputError(op, `${name} must be an integer ≥ ${min} or a pair of them, got ${JSON.stringify(v)}`, shapes);
  }
  return p;
}

function convAttrs(op: string, opts: Conv2dOptions, shapes: Shapes): Conv2dAttrs {
  const pad = opts.padding ?? 0;
  const sides = typeof pad === 'number' ? [pad, pad, pad, pad] : pad.length === 2 ? [pad[0], pad[0], pad[1], pad[1]] : [...pad];
  if (sides.length !== 4 || !sides.every((p) => Number.isInteger(p) && p >= 0)) {
    throw new OpInputError(op, `padding must be a non-negative integer, [ph, pw] or [top, bottom, left, right], got ${JSON.stringify(pad)}`, shapes);
  }
  const groups = opts.groups ?? 1;
  if (!Number.isInteger(groups) || groups < 1) throw new OpInputError(op, `groups must be a positive integer, got ${groups}`, shapes);
  const [top, bottom, left, right] = sides as [number, number, number, number];
  return {
    stride: pair(op, 'stride', opts.stride ?? 1, 1, shapes),
    padding: [top, bottom, left, right],
    dilation: pair(op, 'dilation', opts.dilation ?? 1, 1, shapes),
    groups,
  };
}

/** Output [H, W] of a convolution: ⌊(in + pads − dilation·(k − 1) − 1) / stride⌋ + 1 per axis. */
function convOutputSize(op: string, input: Pair, kernel: Pair, a: Conv2dAttrs, shapes: Shapes): Pair {
  const axis = (i: 0 | 1): number => {
    const padded = input[i] + a.padding[2 * i]! + a.padding[2 * i + 1]!;
    const span = a.dilation[i] * (kernel[i] - 1) + 1;
    if (padded < span) {
      throw new OpInputError(op, `padded input size ${padded} is smaller than the dilated kernel size ${span} (${i === 0 ? 'height' : 'width'})`, shapes);
    }
    return Math.floor((padded - span) / a.stride[i]) + 1;
  };
  return [axis(0), axis(1)];
}

/** Common checks of the three ops: float dtypes that agree, rank-4 operands, channels that split into groups. */
function checkOperands(op: string, inputs: readonly Tensor[], groups: number, channels: number, outChannels: number): void {
  const shapes = inputs.map((t) => t.shape);
  const dtype = sameDType(op, inputs);
  if (!isFloat(dtype)) throw new OpInputError(op, `needs float tensors, got ${dtype}`, shapes);
  if (inputs.some((t) => t.rank !== 4)) throw new OpInputError(op, `operands must have rank 4 ([N, C, H, W] and [O, C/groups, kh, kw])`, shapes);
  if (channels % groups !== 0 || outChannels % groups !== 0) {
    throw new OpInputError(op, `${channels} input and ${outChannels} output channels do not split into ${groups} groups`, shapes);
  }
}

const spatial = (t: Tensor): Pair => [t.shape[2]!, t.shape[3]!];

const conv2dDef = defineOp<Conv2dAttrs>({
  name: 'conv2d',
  family: 'conv',
  kind: 'kernel',
  infer: ([x, w], a): OutputSpec[] => {
    const shapes = [x!.shape, w!.shape];
    checkOperands('conv2d', [x!, w!], a.groups, x!.shape[1]!, w!.shape[0]!);
    if (x!.shape[1] !== w!.shape[1]! * a.groups) {
      throw new OpInputError('conv2d', `input has ${x!.shape[1]} channels, the weight expects ${w!.shape[1]}·${a.groups} (groups)`, shapes);
    }
    const [ho, wo] = convOutputSize('conv2d', spatial(x!), spatial(w!), a, shapes);
    return [{ shape: [x!.shape[0]!, w!.shape[0]!, ho, wo], dtype: x!.dtype }];
  },
  // y = x ⋆ w:  ∂x = w ⋆ᵀ g (transposed convolution),  ∂w = x ⋆ g (correlation over the batch).
  backward: ({ inputs: [x, w], attrs, needsGrad }, [g]) => [
    needsGrad[0] ? inputGrad(g!, w!, { ...attrs, inputSize: spatial(x!) }) : null,
    needsGrad[1] ? weightGrad(x!, g!, { ...attrs, kernelSize: spatial(w!) }) : null,
  ],
});

const inputGradDef = defineOp<InputGradAttrs>({
  name: 'conv2d_input_grad',
  family: 'conv',
  kind: 'kernel',
  infer: ([gy, w], a): OutputSpec[] => {
    const shapes = [gy!.shape, w!.shape];
    checkOperands('conv2d_input_grad', [gy!, w!], a.groups, w!.shape[1]! * a.groups, w!.shape[0]!);
    if (gy!.shape[1] !== w!.shape[0]) {
      throw new OpInputError('conv2d_input_grad', `output gradient has ${gy!.shape[1]} channels, the weight has ${w!.shape[0]} output channels`, shapes);
    }
    checkOutputSize('conv2d_input_grad', a.inputSize, spatial(w!), spatial(gy!), a, shapes);
    return [{ shape: [gy!.shape[0]!, w!.shape[1]! * a.groups, ...a.inputSize], dtype: gy!.dtype }];
  },
  // Linear in each operand, adjoint to conv2d in x:  ∂gy = G ⋆ w,  ∂w = G ⋆ gy.
  backward: ({ inputs: [gy, w], attrs, needsGrad }, [g]) => [
    needsGrad[0] ? convolve(g!, w!, attrs) : null,
    needsGrad[1] ? weightGrad(g!, gy!, { ...attrs, kernelSize: spatial(w!) }) : null,
  ],
});

const weightGradDef = defineOp<WeightGradAttrs>({
  name: 'conv2d_weight_grad',
  family: 'conv',
  kind: 'kernel',
  infer: ([x, gy], a): OutputSpec[] => {
    const shapes = [x!.shape, gy!.shape];
    checkOperands('conv2d_weight_grad', [x!, gy!], a.groups, x!.shape[1]!, gy!.shape[1]!);
    if (x!.shape[0] !== gy!.shape[0]) {
      throw new OpInputError('conv2d_weight_grad', `batch sizes differ: input ${x!.shape[0]}, output gradient ${gy!.shape[0]}`, shapes);
    }
    pair('conv2d_weight_grad', 'kernelSize', a.kernelSize, 1, shapes);
    checkOutputSize('conv2d_weight_grad', spatial(x!), a.kernelSize, spatial(gy!), a, shapes);
    return [{ shape: [gy!.shape[1]!, x!.shape[1]! / a.groups, ...a.kernelSize], dtype: x!.dtype }];
  },
  // Linear in each operand, adjoint to conv2d in w:  ∂x = gy ⋆ᵀ G,  ∂gy = x ⋆ G.
  backward: ({ inputs: [x, gy], attrs, needsGrad }, [g]) => [
    needsGrad[0] ? inputGrad(gy!, g!, { ...attrs, inputSize: spatial(x!) }) : null,
    needsGrad[1] ? convolve(x!, g!, attrs) : null,
  ],
});

function checkOutputSize(op: string, input: Pair, kernel: Pair, output: Pair, a: Conv2dAttrs, shapes: Shapes): void {
  const expected = convOutputSize(op, input, kernel, a, shapes);
  if (expected[0] !== output[0] || expected[1] !== output[1]) {
    throw new OpInputError(op, `a ${input.join('×')} input with a ${kernel.join('×')} kernel gives a ${expected.join('×')} output, not ${output.join('×')}`, shapes);
  }
}

function convolve(x: Tensor, w: Tensor, a: Conv2dAttrs): Tensor {
  return run1(conv2dDef, [x, w], { stride: a.stride, padding: a.padding, dilation: a.dilation, groups: a.groups });
}
function inputGrad(gy: Tensor, w: Tensor, a: InputGradAttrs): Tensor {
  return run1(inputGradDef, [gy, w], { stride: a.stride, padding: a.padding, dilation: a.dilation, groups: a.groups, inputSize: a.inputSize });
}
function weightGrad(x: Tensor, gy: Tensor, a: WeightGradAttrs): Tensor {
  return run1(weightGradDef, [x, gy], { stride: a.stride, padding: a.padding, dilation: a.dilation, groups: a.groups, kernelSize: a.kernelSize });
}

/** torch.nn.functional.conv2d: x [N, C, H, W], weight [O, C/groups, kh, kw], bias [O]. */
export function conv2d(x: Tensor, weight: Tensor, bias?: Tensor | null, opts: Conv2dOptions = {}): Tensor {
  const shapes = bias ? [x.shape, weight.shape, bias.shape] : [x.shape, weight.shape];
  const y = convolve(x, weight, convAttrs('conv2d', opts, shapes));
  if (!bias) return y;
  if (bias.rank !== 1 || bias.shape[0] !== weight.shape[0]) throw new OpInputError('conv2d', `bias must be [${weight.shape[0]}]`, shapes);
  return add(y, reshape(bias, [weight.shape[0]!, 1, 1]));
}

/** The gradient of conv2d with respect to its input (a transposed convolution), like torch.nn.grad.conv2d_input. */
export function conv2dInputGrad(gradOutput: Tensor, weight: Tensor, inputSize: Pair, opts: Conv2dOptions = {}): Tensor {
  const shapes = [gradOutput.shape, weight.shape];
  return inputGrad(gradOutput, weight, { ...convAttrs('conv2d_input_grad', opts, shapes), inputSize: pair('conv2d_input_grad', 'inputSize', inputSize, 1, shapes) });
}

/** The gradient of conv2d with respect to its weight, like torch.nn.grad.conv2d_weight. */
export function conv2dWeightGrad(input: Tensor, gradOutput: Tensor, kernelSize: Pair, opts: Conv2dOptions = {}): Tensor {
  const shapes = [input.shape, gradOutput.shape];
  return weightGrad(input, gradOutput, { ...convAttrs('conv2d_weight_grad', opts, shapes), kernelSize: pair('conv2d_weight_grad', 'kernelSize', kernelSize, 1, shapes) });
}

/* ---------------------------------------------------------------- pooling and resampling */

function requireImages(op: string, x: Tensor): void {
  if (x.rank !== 4) throw new OpInputError(op, `input must be [N, C, H, W], got rank ${x.rank}`, [x.shape]);
  if (!isFloat(x.dtype)) throw new OpInputError(op, `needs a float tensor, got ${x.dtype}`, [x.shape]);
}

/**
 * torch.nn.functional.avg_pool2d with count_include_pad=True: a depthwise convolution with a constant 1/(kh·kw)
 * kernel, so padded zeros count in every window's mean.
 */
export function avgPool2d(x: Tensor, kernelSize: number | Pair, stride?: number | Pair, padding: number | Pair = 0): Tensor {
  requireImages('avg_pool2d', x);
  const shapes = [x.shape];
  const [kh, kw] = pair('avg_pool2d', 'kernelSize', kernelSize, 1, shapes);
  const [ph, pw] = pair('avg_pool2d', 'padding', padding, 0, shapes);
  if (2 * ph > kh || 2 * pw > kw) throw new OpInputError('avg_pool2d', `padding ${JSON.stringify(padding)} must be at most half the kernel size ${kh}×${kw}`, shapes);
  const attrs = convAttrs('avg_pool2d', { stride: stride ?? [kh, kw], padding: [ph, pw], groups: x.shape[1] }, shapes);
  convOutputSize('avg_pool2d', spatial(x), [kh, kw], attrs, shapes);
  const channels = x.shape[1]!;
  const meanKernel = full([channels, 1, kh, kw], 1 / (kh * kw), { dtype: x.dtype, backend: x.backend });
  return convolve(x, meanKernel, attrs);
}

/** torch.nn.functional.interpolate(mode='nearest') with integer scale factors: each pixel repeated fh × fw times. */
export function upsampleNearest(x: Tensor, scaleFactor: number | Pair): Tensor {
  requireImages('upsample_nearest', x);
  const [fh, fw] = pair('upsample_nearest', 'scaleFactor', scaleFactor, 1, [x.shape]);
  const [n, c, h, w] = x.shape as [number, number, number, number];
  const spread = expand(reshape(x, [n, c, h, 1, w, 1]), [n, c, h, fh, w, fw]);
  return reshape(spread, [n, c, h * fh, w * fw]);
}

/**
 * torch.nn.functional.interpolate(mode='bilinear', align_corners=False) to size [outH, outW]. Bilinear resampling
 * is separable and linear, so it is two small interpolation matrices applied by matmul: y = Rh · x · Rwᵀ.
 */
export function interpolateBilinear(x: Tensor, size: Pair): Tensor {
  requireImages('interpolate_bilinear', x);
  const [outH, outW] = pair('interpolate_bilinear', 'size', size, 1, [x.shape]);
  const rows = interpolationMatrix(x.shape[2]!, outH, x);
  const cols = interpolationMatrix(x.shape[3]!, outW, x);
  return matmul(matmul(rows, x), transpose(cols));
}

/**
 * The [outSize, inSize] matrix of 1-D linear interpolation with PyTorch's half-pixel rule: output d samples the
 * input at src = (d + 0.5)·in/out − 0.5, clamped at 0, between pixels ⌊src⌋ and ⌊src⌋ + 1 (the last pixel repeats).
 */
function interpolationMatrix(inSize: number, outSize: number, like: Tensor): Tensor {
  const weights = new Float64Array(outSize * inSize);
  const scale = inSize / outSize;
  for (let d = 0; d < outSize; d++) {
    const src = Math.max(0, (d + 0.5) * scale - 0.5);
    const lo = Math.min(Math.floor(src), inSize - 1);
    const hi = Math.min(lo + 1, inSize - 1);
    const t = src - lo;
    weights[d * inSize + lo] += 1 - t;
    weights[d * inSize + hi] += t;
  }
  return fromArray(weights, [outSize, inSize], { dtype: like.dtype, backend: like.backend });
}
