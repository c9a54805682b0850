/*
 * 8-bit images in memory and the resampling that the official preprocessing does with PIL: `Image.resize` with
 * the BOX and BICUBIC filters, reproduced with PIL's own arithmetic (separable passes, horizontal first, each
 * rounded to 8 bits in 22-bit fixed point), and ADM's `center_crop_arr` built on it.
 */

/** Row-major pixels with interleaved channels (1 grey, 3 RGB, 4 RGBA). */
export interface Raster {
  width: number;
  height: number;
  channels: number;
  data: Uint8Array;
}

interface Filter {
  support: number;
  weight(x: number): number;
}

const FILTERS: Record<'box' | 'bicubic', Filter> = {
  box: { support: 0.5, weight: (x) => (x > -0.5 && x <= 0.5 ? 1 : 0) },
  // Keys' cubic with a = −0.5, as PIL's BICUBIC.
  bicubic: {
    support: 2,
    weight: (x) => {
      const a = -0.5;
      const t = Math.abs(x);
      if (t < 1) return ((a + 2) * t - (a + 3)) * t * t + 1;
      if (t < 2) return (((t - 5) * t + 8) * t - 4) * a;
      return 0;
    },
  },
};

export type ResampleFilter = keyof typeof FILTERS;

const PRECISION_BITS = 32 - 8 - 2;
const ONE = 2 ** PRECISION_BITS;

/** For each output index, the first input index and the fixed-point weights of the inputs it reads (PIL's `precompute_coeffs`). */
function coefficients(inSize: number, outSize: number, filter: Filter): { first: Int32Array; weights: number[][] } {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = filter.support * filterScale;
  const first = new Int32Array(outSize);
  const weights: number[][] = [];
  for (let o = 0; o < outSize; o++) {
    const center = (o + 0.5) * scale;
    const lo = Math.max(Math.trunc(center - support + 0.5), 0);
    const hi = Math.min(Math.trunc(center + support + 0.5), inSize);
    const raw: number[] = [];
    for (let i = lo; i < hi; i++) raw.push(filter.weight((i - center + 0.5) / filterScale));
    const total = raw.reduce((a, b) => a + b, 0);
    first[o] = lo;
    // PIL rounds each normalised weight half away from zero to 22 fractional bits.
    weights.push(raw.map((w) => {
      const k = total !== 0 ? w / total : w;
      return k < 0 ? Math.trunc(-0.5 + k * ONE) : Math.trunc(0.5 + k * ONE);
    }));
  }
  return { first, weights };
}

function clip8(fixed: number): number {
  const v = Math.floor(fixed / ONE);
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

/** One separable pass along x (`horizontal`) or y. */
function resamplePass(src: Raster, outSize: number, horizontal: boolean, filter: Filter): Raster {
  const { width, height, channels } = src;
  const outW = horizontal ? outSize : width;
  const outH = horizontal ? height : outSize;
  const { first, weights } = coefficients(horizontal ? width : height, outSize, filter);
  const out = new Uint8Array(outW * outH * channels);
  for (let y = 0; y < outH; y++) {
    for (let x = 0; x < outW; x++) {
      const o = horizontal ? x : y;
      const w = weights[o]!;
      const start = first[o]!;
      for (let c = 0; c < channels; c++) {
        let acc = ONE / 2; // rounds the final shift to nearest
        for (let k = 0; k < w.length; k++) {
          const sx = horizontal ? start + k : x;
          const sy = horizontal ? y : start + k;
          acc += src.data[(sy * width + sx) * channels + c]! * w[k]!;
        }
        out[(y * outW + x) * channels + c] = clip8(acc);
      }
    }
  }
  return { width: outW, height: outH, channels, data: out };
}

/** PIL's `Image.resize((width, height), filter)`. */
export function resize(image: Raster, width: number, height: number, filter: ResampleFilter): Raster {
  const f = FILTERS[filter];
  let out = image;
  if (width !== image.width) out = resamplePass(out, width, true, f);
  if (height !== image.height) out = resamplePass(out, height, false, f);
  return out;
}

/** Python's round(): to nearest, ties to even. */
function roundHalfEven(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  return d > 0.5 || (d === 0.5 && f % 2 !== 0) ? f + 1 : f;
}

/** The `size`×`size` window at (left, top). */
export function crop(image: Raster, left: number, top: number, size: number): Raster {
  const { width, channels } = image;
  const out = new Uint8Array(size * size * channels);
  for (let y = 0; y < size; y++) {
    const from = ((top + y) * width + left) * channels;
    out.set(image.data.subarray(from, from + size * channels), y * size * channels);
  }
  return { width: size, height: size, channels, data: out };
}

/**
 * ADM's `center_crop_arr` (the official preprocessing before encoding): halve the image with the BOX filter while
 * its short side is at least 2·size, resize with BICUBIC so that the short side is `size` (other side rounded as
 * Python rounds), then cut the centred size×size square (offsets rounded down).
 */
export function centerCropArr(image: Raster, size: number): Raster {
  let img = image;
  while (Math.min(img.width, img.height) >= 2 * size) img = resize(img, Math.floor(img.width / 2), Math.floor(img.height / 2), 'box');
  const scale = size / Math.min(img.width, img.height);
  img = resize(img, roundHalfEven(img.width * scale), roundHalfEven(img.height * scale), 'bicubic');
  return crop(img, Math.floor((img.width - size) / 2), Math.floor((img.height - size) / 2), size);
}

/** PIL's `convert('L')` from RGB: L = (19595·R + 38470·G + 7471·B + 2¹⁵) >> 16. */
export function toGrey(image: Raster): Raster {
  if (image.channels === 1) return image;
  const n = image.width * image.height;
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const p = i * image.channels;
    out[i] = (19595 * image.data[p]! + 38470 * image.data[p + 1]! + 7471 * image.data[p + 2]! + 0x8000) >>> 16;
  }
  return { width: image.width, height: image.height, channels: 1, data: out };
}

/** Keeps the first three channels (PIL's `convert('RGB')` drops alpha without blending). */
export function toRgb(image: Raster): Raster {
  if (image.channels === 3) return image;
  const n = image.width * image.height;
  const out = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < 3; c++) out[i * 3 + c] = image.data[i * image.channels + (image.channels === 1 ? 0 : c)]!;
  }
  return { width: image.width, height: image.height, channels: 3, data: out };
}

/** Planar float pixels [C, H, W] in [−1, 1] (x/127.5 − 1), mirrored left-right when `flip`. */
export function toPlanar(image: Raster, flip: boolean): Float32Array {
  const { width, height, channels } = image;
  const out = new Float32Array(channels * width * height);
  for (let c = 0; c < channels; c++) {
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const sx = flip ? width - 1 - x : x;
        out[(c * height + y) * width + x] = image.data[(y * width + sx) * channels + c]! / 127.5 - 1;
      }
    }
  }
  return out;
}
