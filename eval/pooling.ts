import { type Tensor, avgPool2d, div, fromArray, indexSelect, maximum, narrow, ones, pad } from '../engine/index.js';
import { EngineError, fmtShape } from '../engine/errors.js';

/*
 * The two pooling layers InceptionV3 needs beyond the engine's avgPool2d (count_include_pad = True), written with
 * engine ops so that they run on any backend: max pooling, and average pooling that divides by the number of
 * real (unpadded) pixels under each window (PyTorch's count_include_pad = False, used by pytorch-fid's blocks).
 */

/** Elements offset, offset + stride, …, `count` of them, along `dim`. */
function everyStride(x: Tensor, dim: number, offset: number, count: number, stride: number): Tensor {
  if (stride === 1) return narrow(x, dim, offset, count);
  const index = fromArray(Int32Array.from({ length: count }, (_, o) => offset + o * stride), [count], { dtype: 'int32', backend: x.backend });
  return indexSelect(x, dim, index);
}

/**
 * `F.max_pool2d(x, kernelSize, stride, padding)` (square windows, no dilation, floor mode): the elementwise maximum
 * of the kernelSize² strided views of x padded with −∞.
 */
export function maxPool2d(x: Tensor, kernelSize: number, stride = kernelSize, padding = 0): Tensor {
  if (x.rank !== 4) throw new EngineError(`maxPool2d: needs [N, C, H, W], got ${fmtShape(x.shape)}`);
  if (2 * padding > kernelSize) throw new EngineError(`maxPool2d: padding ${padding} must be at most half the kernel size ${kernelSize}`);
  const padded = padding > 0 ? pad(x, [padding, padding, padding, padding], -Infinity) : x;
  const [, , height, width] = padded.shape as [number, number, number, number];
  const outH = Math.floor((height - kernelSize) / stride) + 1;
  const outW = Math.floor((width - kernelSize) / stride) + 1;
  if (outH < 1 || outW < 1) throw new EngineError(`maxPool2d: input ${fmtShape(x.shape)} is smaller than the ${kernelSize}×${kernelSize} window`);
  let result: Tensor | undefined;
  for (let i = 0; i < kernelSize; i++) {
    const rows = everyStride(padded, 2, i, outH, stride);
    for (let j = 0; j < kernelSize; j++) {
      const view = everyStride(rows, 3, j, outW, stride);
      result = result ? maximum(result, view) : view;
    }
  }
  return result!;
}

/**
 * `F.avg_pool2d(x, kernelSize, stride, padding, count_include_pad=False)`: the zero-padded window sums divided by
 * how many pixels of each window lie inside the image, which is the same pooling applied to an image of ones.
 */
export function avgPool2dExcludePad(x: Tensor, kernelSize: number, stride = kernelSize, padding = 0): Tensor {
  if (x.rank !== 4) throw new EngineError(`avgPool2dExcludePad: needs [N, C, H, W], got ${fmtShape(x.shape)}`);
  const coverage = avgPool2d(ones([1, 1, x.shape[2]!, x.shape[3]!], { dtype: x.dtype, backend: x.backend }), kernelSize, stride, padding);
  return div(avgPool2d(x, kernelSize, stride, padding), coverage);
}
