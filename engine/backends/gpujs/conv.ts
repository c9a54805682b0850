import type { Conv2dAttrs } from '../../ops/conv.js';
import type { KernelThis } from './runtime.js';
import type { GpuJsKernel } from './kernel.js';
import { storageOf } from './storage.js';

/*
 * 2-D convolution (cross-correlation, as PyTorch), direct: one thread per output pixel (x: column, y: row,
 * z: image × output channel) sums over the taps of its group's channels, skipping taps that fall on padding.
 * The host passes, per z, where that image's group channels start in the input and where that output
 * channel's filter starts in the weight, then the geometry. The two gradient ops fall back to the CPU.
 */

function conv2dKernel(
  this: KernelThis,
  image: Float32Array, weight: Float32Array, imageStarts: Int32Array, filterStarts: Int32Array,
  groupChannels: number, height: number, width: number, kh: number, kw: number,
  strideY: number, strideX: number, top: number, left: number, dilationY: number, dilationX: number,
): number {
  const imageStart = imageStarts[this.thread.z]!;
  const filterStart = filterStarts[this.thread.z]!;
  let sum = 0;
  for (let c = 0; c < groupChannels; c++) {
    for (let i = 0; i < kh; i++) {
      const iy = this.thread.y * strideY - top + i * dilationY;
      if (iy >= 0 && iy < height) {
        for (let j = 0; j < kw; j++) {
          const ix = this.thread.x * strideX - left + j * dilationX;
          if (ix >= 0 && ix < width) {
            sum += image[imageStart + (c * height + iy) * width + ix]! * weight[filterStart + (c * kh + i) * kw + j]!;
          }
        }
      }
    }
  }
  return sum;
}

const conv2d: GpuJsKernel<Conv2dAttrs> = (runtime, [x, w], [y], attrs) => {
  const [batch, channels, height, width] = x!.shape as [number, number, number, number];
  const [outChannels, groupChannels, kh, kw] = w!.shape as [number, number, number, number];
  const [, , outHeight, outWidth] = y!.shape as [number, number, number, number];
  const groupOutChannels = outChannels / attrs.groups;
  const imageStarts = new Int32Array(batch * outChannels);
  const filterStarts = new Int32Array(batch * outChannels);
  for (let n = 0; n < batch; n++) {
    for (let o = 0; o < outChannels; o++) {
      const group = Math.floor(o / groupOutChannels);
      imageStarts[n * outChannels + o] = x!.offset + (n * channels + group * groupChannels) * height * width;
      filterStarts[n * outChannels + o] = w!.offset + o * groupChannels * kh * kw;
    }
  }
  const { stride: [strideY, strideX], padding: [top, , left], dilation: [dilationY, dilationX] } = attrs;
  const geometry = [groupChannels, height, width, kh, kw, strideY, strideX, top, left, dilationY, dilationX];
  const args = [storageOf(x!).data, storageOf(w!).data, imageStarts, filterStarts, ...geometry];
  return runtime.run('conv2d', conv2dKernel, [outWidth, outHeight, batch * outChannels], args, y!);
};

export const convKernels: Record<string, GpuJsKernel> = { conv2d };
