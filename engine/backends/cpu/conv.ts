import type { Kernel } from '../../backend.js';
import type { TypedArray } from '../../dtype.js';
import type { Conv2dAttrs } from '../../ops/conv.js';
import { dataOf } from './storage.js';
import { type StridedMatrix, float64Accumulator, gemmAccumulate } from './matmul.js';

/*
 * Convolutions as matrix products (im2col). For one image and one group, the patches matrix P has a row per
 * kernel tap (channel, i, j) and a column per output pixel, holding the input value under that tap. Then
 *   forward        y  = W · P          W: [O/g, taps]
 *   input grad     dP = Wᵀ · gy,  scattered back onto the image (col2im)
 *   weight grad    dW += gy · Pᵀ      summed over the batch
 * A 1×1 convolution with stride 1 and no padding has P equal to the image itself, so it goes straight to gemm.
 */

interface Geometry {
  batch: number;
  channels: number;
  height: number;
  width: number;
  outChannels: number;
  kh: number;
  kw: number;
  outHeight: number;
  outWidth: number;
  attrs: Conv2dAttrs;
}

/** Channels of one group, taps per output channel, pixels of an output and of an input plane. */
function sizes(g: Geometry) {
  const groupChannels = g.channels / g.attrs.groups;
  return {
    groupChannels,
    groupOutChannels: g.outChannels / g.attrs.groups,
    taps: groupChannels * g.kh * g.kw,
    pixels: g.outHeight * g.outWidth,
    plane: g.height * g.width,
  };
}

function geometry(image: readonly number[], weight: readonly number[], output: readonly number[], attrs: Conv2dAttrs): Geometry {
  const [batch, channels, height, width] = image as [number, number, number, number];
  const [outChannels, , kh, kw] = weight as [number, number, number, number];
  const [, , outHeight, outWidth] = output as [number, number, number, number];
  return { batch, channels, height, width, outChannels, kh, kw, outHeight, outWidth, attrs };
}

function isPointwise(g: Geometry): boolean {
  const { stride, padding } = g.attrs;
  return g.kh === 1 && g.kw === 1 && stride[0] === 1 && stride[1] === 1 && padding.every((p) => p === 0);
}

const rowMajor = (data: TypedArray, offset: number, ld: number): StridedMatrix => ({ data, offset, rowStride: ld, colStride: 1 });
const transposed = (data: TypedArray, offset: number, ld: number): StridedMatrix => ({ data, offset, rowStride: 1, colStride: ld });

/** Output positions o in [0, count) whose input position o·stride + shift falls inside [0, size). */
function insideRange(count: number, stride: number, shift: number, size: number): [number, number] {
  const lo = Math.max(0, Math.ceil(-shift / stride));
  const hi = Math.min(count, Math.floor((size - 1 - shift) / stride) + 1);
  return [lo, Math.max(lo, hi)];
}

/**
 * Writes the group's channels (starting at `start` in `src`) into the patches matrix [taps, pixels]. Entries
 * under padding are skipped: they are the same for every image and group, so they stay zero from allocation.
 */
function im2col(src: TypedArray, start: number, g: Geometry, patches: Float64Array): void {
  const { groupChannels } = sizes(g);
  const { stride: [sh, sw], padding: [top, , left], dilation: [dh, dw] } = g.attrs;
  let at = 0;
  for (let c = 0; c < groupChannels; c++) {
    for (let i = 0; i < g.kh; i++) {
      for (let j = 0; j < g.kw; j++) {
        const [lo, hi] = insideRange(g.outWidth, sw, j * dw - left, g.width);
        for (let oy = 0; oy < g.outHeight; oy++, at += g.outWidth) {
          const iy = oy * sh - top + i * dh;
          if (iy < 0 || iy >= g.height) continue;
          const row = start + (c * g.height + iy) * g.width + j * dw - left;
          for (let ox = lo; ox < hi; ox++) patches[at + ox] = src[row + ox * sw]!;
        }
      }
    }
  }
}

/** The adjoint of im2col: adds each entry of `patches` onto the image position it was read from. */
function col2im(patches: Float64Array, g: Geometry, image: Float64Array, start: number): void {
  const { groupChannels } = sizes(g);
  const { stride: [sh, sw], padding: [top, , left], dilation: [dh, dw] } = g.attrs;
  let at = 0;
  for (let c = 0; c < groupChannels; c++) {
    for (let i = 0; i < g.kh; i++) {
      for (let j = 0; j < g.kw; j++) {
        const [lo, hi] = insideRange(g.outWidth, sw, j * dw - left, g.width);
        for (let oy = 0; oy < g.outHeight; oy++, at += g.outWidth) {
          const iy = oy * sh - top + i * dh;
          if (iy < 0 || iy >= g.height) continue;
          const row = start + (c * g.height + iy) * g.width + j * dw - left;
          for (let ox = lo; ox < hi; ox++) image[row + ox * sw] += patches[at + ox]!;
        }
      }
    }
  }
}

const conv2d: Kernel<Conv2dAttrs> = ([x, w], [y], attrs) => {
  const g = geometry(x!.shape, w!.shape, y!.shape, attrs);
  const { groupChannels, groupOutChannels, taps, pixels, plane } = sizes(g);
  const image = dataOf(x!);
  const weight = dataOf(w!);
  const { acc, base, store } = float64Accumulator(y!);
  const patches = isPointwise(g) ? null : new Float64Array(taps * pixels);
  for (let n = 0; n < g.batch; n++) {
    for (let grp = 0; grp < attrs.groups; grp++) {
      const inputStart = x!.offset + (n * g.channels + grp * groupChannels) * plane;
      if (patches) im2col(image, inputStart, g, patches);
      gemmAccumulate(
        groupOutChannels, pixels, taps,
        rowMajor(weight, w!.offset + grp * groupOutChannels * taps, taps),
        patches ? rowMajor(patches, 0, pixels) : rowMajor(image, inputStart, plane),
        acc, base + (n * g.outChannels + grp * groupOutChannels) * pixels, pixels,
      );
    }
  }
  store();
};

const conv2dInputGrad: Kernel<Conv2dAttrs> = ([gy, w], [gx], attrs) => {
  const g = geometry(gx!.shape, w!.shape, gy!.shape, attrs);
  const { groupChannels, groupOutChannels, taps, pixels, plane } = sizes(g);
  const grads = dataOf(gy!);
  const weight = dataOf(w!);
  const { acc, base, store } = float64Accumulator(gx!);
  const patchGrads = isPointwise(g) ? null : new Float64Array(taps * pixels);
  for (let n = 0; n < g.batch; n++) {
    for (let grp = 0; grp < attrs.groups; grp++) {
      const weightT = transposed(weight, w!.offset + grp * groupOutChannels * taps, taps);
      const outGrads = rowMajor(grads, gy!.offset + (n * g.outChannels + grp * groupOutChannels) * pixels, pixels);
      const inputStart = base + (n * g.channels + grp * groupChannels) * plane;
      if (!patchGrads) {
        gemmAccumulate(groupChannels, pixels, groupOutChannels, weightT, outGrads, acc, inputStart, plane);
        continue;
      }
      patchGrads.fill(0);
      gemmAccumulate(taps, pixels, groupOutChannels, weightT, outGrads, patchGrads, 0, pixels);
      col2im(patchGrads, g, acc, inputStart);
    }
  }
  store();
};

const conv2dWeightGrad: Kernel<Conv2dAttrs> = ([x, gy], [gw], attrs) => {
  const g = geometry(x!.shape, gw!.shape, gy!.shape, attrs);
  const { groupChannels, groupOutChannels, taps, pixels, plane } = sizes(g);
  const image = dataOf(x!);
  const grads = dataOf(gy!);
  const { acc, base, store } = float64Accumulator(gw!);
  const patches = isPointwise(g) ? null : new Float64Array(taps * pixels);
  for (let n = 0; n < g.batch; n++) {
    for (let grp = 0; grp < attrs.groups; grp++) {
      const inputStart = x!.offset + (n * g.channels + grp * groupChannels) * plane;
      if (patches) im2col(image, inputStart, g, patches);
      gemmAccumulate(
        groupOutChannels, taps, pixels,
        rowMajor(grads, gy!.offset + (n * g.outChannels + grp * groupOutChannels) * pixels, pixels),
        patches ? transposed(patches, 0, pixels) : transposed(image, inputStart, plane),
        acc, base + grp * groupOutChannels * taps, taps,
      );
    }
  }
  store();
};

export const convKernels: Record<string, Kernel> = {
  conv2d,
  conv2d_input_grad: conv2dInputGrad,
  conv2d_weight_grad: conv2dWeightGrad,
};
