import type { Kernel, View } from '../../backend.js';
import type { Conv2dAttrs } from '../../ops/conv.js';
import type { GpuStorage } from './buffers.js';
import { webgpu } from './context.js';
import { fill } from './creation.js';
import { elementwise } from './elementwise.js';
import { type GemmProblem, gemm } from './matmul.js';
import { ParamLayout } from './params.js';
import { grid } from './queue.js';
import { TUNING_TABLE, adapterClass } from './tuning.js';
import { MAIN_1D, WG, bindings } from './wgsl.js';

/*
 * Convolutions as matrix products through an explicit patches matrix (im2col), the GEMM being matmul.ts's.
 * For image n and group g, the patches P[n][g] have a row per kernel tap t = (c, i, j) and a column per output
 * pixel; then
 *   forward       y[n][g]  = W[g] · P[n][g]                      (W[g]: [O/G, taps])
 *   input grad    dP[n][g] = W[g]ᵀ · gy[n][g], added back onto the image by col2im (a gather per input pixel)
 *   weight grad   dW[g]   += gy[g] · P[g]ᵀ, the sum running over images and pixels (one long K), which on GPUs
 *                 is cut into slices computed side by side, then summed (few tiles of C would leave it idle)
 * A 1×1 convolution with stride 1 and no padding has P = x, so forward and input grad skip the copy.
 * The patches of a whole batch can be huge, so work goes in chunks of images (or, for one very large image,
 * of output pixels), each small enough for one storage binding; the weight gradient accumulates over chunks.
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
  groups: number;
  /** Channels and output channels per group, taps per output channel, output pixels per image. */
  cg: number;
  og: number;
  taps: number;
  pixels: number;
  attrs: Conv2dAttrs;
}

function geometry(image: readonly number[], weight: readonly number[], output: readonly number[], attrs: Conv2dAttrs): Geometry {
  const [batch, channels, height, width] = image as [number, number, number, number];
  const [outChannels, cg, kh, kw] = weight as [number, number, number, number];
  const [, , outHeight, outWidth] = output as [number, number, number, number];
  const groups = attrs.groups;
  return {
    batch, channels, height, width, outChannels, kh, kw, outHeight, outWidth, groups, attrs,
    cg, og: outChannels / groups, taps: cg * kh * kw, pixels: outHeight * outWidth,
  };
}

function isPointwise(g: Geometry): boolean {
  const { stride, padding } = g.attrs;
  return g.kh === 1 && g.kw === 1 && stride[0] === 1 && stride[1] === 1 && padding.every((p) => p === 0);
}

/** A stretch of the work: images [n0, n0 + images), output pixels [p0, p0 + pixels) of each. */
interface Chunk {
  n0: number;
  images: number;
  p0: number;
  pixels: number;
}

/** Elements of patches per chunk; tests lower it to exercise chunking on small shapes. */
let forcedBudget: number | undefined;
export function forceConvChunkBudget(elements: number | undefined): void {
  forcedBudget = elements;
}

/** Chunks whose patches (groups · taps · pixels per image, times images) fit in a budget of elements. */
function chunks(g: Geometry): Chunk[] {
  const budget = forcedBudget ?? Math.min(1 << 24, Math.floor((webgpu().adapter.limits.maxStorageBufferBindingSize ?? 2 ** 27) / 4));
  const perPixel = g.groups * g.taps;
  const perImage = perPixel * g.pixels;
  const out: Chunk[] = [];
  if (perImage <= budget) {
    const images = Math.max(1, Math.floor(budget / Math.max(1, perImage)));
    for (let n0 = 0; n0 < g.batch; n0 += images) out.push({ n0, images: Math.min(images, g.batch - n0), p0: 0, pixels: g.pixels });
  } else {
    const pixels = Math.max(1, Math.floor(budget / perPixel));
    for (let n0 = 0; n0 < g.batch; n0++) {
      for (let p0 = 0; p0 < g.pixels; p0 += pixels) out.push({ n0, images: 1, p0, pixels: Math.min(pixels, g.pixels - p0) });
    }
  }
  return out;
}

/** Where element (image, group, tap, pixel) of a patches buffer lives: pixel stride 1, the others these. */
interface PatchLayout {
  image: number;
  group: number;
  tap: number;
}

const geometryFields = {
  C: 'u32', H: 'u32', W: 'u32', Wo: 'u32', kh: 'u32', kw: 'u32', sh: 'u32', sw: 'u32',
  top: 'u32', left: 'u32', dh: 'u32', dw: 'u32', cg: 'u32', taps: 'u32',
} as const;

function geometryValues(g: Geometry) {
  const { stride: [sh, sw], padding: [top, , left], dilation: [dh, dw] } = g.attrs;
  return { C: g.channels, H: g.height, W: g.width, Wo: g.outWidth, kh: g.kh, kw: g.kw, sh, sw, top, left, dh, dw, cg: g.cg, taps: g.taps };
}

const im2colParams = new ParamLayout({
  n: 'u32', G: 'u32', chunkPixels: 'u32', p0: 'u32', oh0: 'u32', rows: 'u32', offX: 'u32', sImage: 'u32', sGroup: 'u32', sTap: 'u32',
  ...geometryFields,
});

/**
 * P[image][group][tap][pixel] of the chunk = x under that tap at that pixel, or 0 in the padding. An invocation
 * fills the kh·kw taps of one input channel along one output row, stepping through the row: integer division
 * (scalarised on lavapipe's SIMD lanes, where it made the copy three times as slow as the GEMM after it) happens
 * once per invocation, not once per element.
 */
function im2col(x: View, g: Geometry, chunk: Chunk, patches: GpuStorage, layout: PatchLayout): void {
  const oh0 = Math.floor(chunk.p0 / g.outWidth);
  const rows = Math.floor((chunk.p0 + chunk.pixels - 1) / g.outWidth) - oh0 + 1;
  const n = chunk.images * g.groups * g.cg * rows;
  webgpu().queue.dispatch({
    key: 'conv:im2col',
    code: () =>
      im2colParams.wgsl() +
      bindings([['x', 'f32']], [['P', 'f32']]) +
      MAIN_1D +
      `
  if (i >= p.n) { return; }
  let oh = p.oh0 + i % p.rows;
  var rest = i / p.rows;
  let cIn = rest % p.cg;
  rest = rest / p.cg;
  let group = rest % p.G;
  let image = rest / p.G;
  let plane = p.offX + (image * p.C + group * p.cg + cIn) * p.H * p.W;
  let firstTap = image * p.sImage + group * p.sGroup + cIn * p.kh * p.kw * p.sTap;
  // The pixels of this row within the chunk.
  let qStart = max(oh * p.Wo, p.p0);
  let qEnd = min((oh + 1u) * p.Wo, p.p0 + p.chunkPixels);
  for (var ki = 0u; ki < p.kh; ki++) {
    let ih = i32(oh * p.sh + ki * p.dh) - i32(p.top);
    let rowInside = ih >= 0 && ih < i32(p.H);
    let xRow = plane + u32(clamp(ih, 0, i32(p.H) - 1)) * p.W;
    for (var kj = 0u; kj < p.kw; kj++) {
      let to = firstTap + (ki * p.kw + kj) * p.sTap;
      var iw = i32((qStart - oh * p.Wo) * p.sw + kj * p.dw) - i32(p.left);
      for (var q = qStart; q < qEnd; q++) {
        let inside = rowInside && iw >= 0 && iw < i32(p.W);
        P[to + (q - p.p0)] = select(0.0, x[xRow + u32(clamp(iw, 0, i32(p.W) - 1))], inside);
        iw += i32(p.sw);
      }
    }
  }
}
`,
    reads: [x.storage as GpuStorage],
    writes: [patches],
    params: im2colParams.pack({
      n, G: g.groups, chunkPixels: chunk.pixels, p0: chunk.p0, oh0, rows,
      offX: x.offset + chunk.n0 * g.channels * g.height * g.width,
      sImage: layout.image, sGroup: layout.group, sTap: layout.tap, ...geometryValues(g),
    }),
    workgroups: grid(Math.ceil(n / WG)),
    cost: chunk.images * g.groups * g.taps * chunk.pixels * 2,
  });
}

const col2imParams = new ParamLayout({
  n: 'u32', accumulate: 'u32', chunkPixels: 'u32', p0: 'u32', offX: 'u32', Ho: 'u32', sImage: 'u32', sGroup: 'u32', sTap: 'u32', ...geometryFields,
});

/**
 * The adjoint of im2col, as a gather: each input pixel of the chunk's images sums the patch gradients of every
 * tap that read it (within the chunk's pixels), in a fixed order; `accumulate` adds to what is there. With unit
 * strides the shader has no per-tap division (scalarised on lavapipe's SIMD lanes).
 */
function col2im(dP: GpuStorage, g: Geometry, chunk: Chunk, dx: View, layout: PatchLayout, accumulate: boolean): void {
  const n = chunk.images * g.channels * g.height * g.width;
  const unitStride = g.attrs.stride[0] === 1 && g.attrs.stride[1] === 1;
  // Output coordinate `o` of input coordinate `v` under a tap, if the tap's stride lands on it.
  const strided = (v: string, s: string, limit: string) =>
    unitStride ? `${v} < 0 || u32(${v}) >= ${limit}` : `${v} < 0 || u32(${v}) % ${s} != 0u || u32(${v}) / ${s} >= ${limit}`;
  const outAt = (v: string, s: string) => (unitStride ? `u32(${v})` : `u32(${v}) / ${s}`);
  webgpu().queue.dispatch({
    key: `conv:col2im${unitStride ? ':unit-stride' : ''}`,
    code: () =>
      col2imParams.wgsl() +
      bindings([['dP', 'f32']], [['dx', 'f32']]) +
      MAIN_1D +
      `
  if (i >= p.n) { return; }
  let w = i % p.W;
  var rest = i / p.W;
  let h = rest % p.H;
  rest = rest / p.H;
  let c = rest % p.C;
  let image = rest / p.C;
  let group = c / p.cg;
  var acc = 0.0;
  for (var ki = 0u; ki < p.kh; ki++) {
    let y = i32(h + p.top) - i32(ki * p.dh);
    if (${strided('y', 'p.sh', 'p.Ho')}) { continue; }
    for (var kj = 0u; kj < p.kw; kj++) {
      let x = i32(w + p.left) - i32(kj * p.dw);
      if (${strided('x', 'p.sw', 'p.Wo')}) { continue; }
      let q = ${outAt('y', 'p.sh')} * p.Wo + ${outAt('x', 'p.sw')};
      if (q < p.p0 || q >= p.p0 + p.chunkPixels) { continue; }
      let tap = ((c % p.cg) * p.kh + ki) * p.kw + kj;
      acc += dP[image * p.sImage + group * p.sGroup + tap * p.sTap + (q - p.p0)];
    }
  }
  let at = p.offX + i;
  dx[at] = select(acc, dx[at] + acc, p.accumulate == 1u);
}
`,
    reads: [dP],
    writes: [dx.storage as GpuStorage],
    params: col2imParams.pack({
      n, accumulate: accumulate ? 1 : 0, chunkPixels: chunk.pixels, p0: chunk.p0, offX: dx.offset + chunk.n0 * g.channels * g.height * g.width, Ho: g.outHeight,
      sImage: layout.image, sGroup: layout.group, sTap: layout.tap, ...geometryValues(g),
    }),
    workgroups: grid(Math.ceil(n / WG)),
    cost: n * g.kh * g.kw,
  });
}

const storageOf = (v: View) => v.storage as GpuStorage;

/** Batch dims (image, group) of a GEMM, with the operands' strides along them. */
function imageGroupBatch(images: number, g: Geometry, a: [number, number], b: [number, number], c: [number, number]): GemmProblem['batch'] {
  return { shape: [images, g.groups], strides: [a, b, c] };
}

const conv2d: Kernel<Conv2dAttrs> = ([x, w], [y], attrs) => {
  const g = geometry(x!.shape, w!.shape, y!.shape, attrs);
  const plane = g.height * g.width;
  const weight = { storage: storageOf(w!), offset: w!.offset, rowStride: g.taps, colStride: 1 };
  const outY = (c: Chunk) => ({ storage: storageOf(y!), offset: y!.offset + c.n0 * g.outChannels * g.pixels + c.p0, ldc: g.pixels });
  const yBatch: [number, number] = [g.outChannels * g.pixels, g.og * g.pixels];
  if (isPointwise(g)) {
    const all: Chunk = { n0: 0, images: g.batch, p0: 0, pixels: g.pixels };
    gemm({
      m: g.og, n: g.pixels, k: g.taps, a: weight,
      b: { storage: storageOf(x!), offset: x!.offset, rowStride: plane, colStride: 1 },
      c: outY(all),
      batch: imageGroupBatch(g.batch, g, [0, g.og * g.taps], [g.channels * plane, g.cg * plane], yBatch),
    });
    return;
  }
  const plan = chunks(g);
  if (plan.length === 0) return;
  const { queue } = webgpu();
  const largest = Math.max(...plan.map((c) => c.images * c.pixels));
  const patches = queue.scratch(storageOf(y!), 'float32', largest * g.groups * g.taps);
  for (const c of plan) {
    const layout = { image: g.groups * g.taps * c.pixels, group: g.taps * c.pixels, tap: c.pixels };
    im2col(x!, g, c, patches, layout);
    gemm({
      m: g.og, n: c.pixels, k: g.taps, a: weight,
      b: { storage: patches, offset: 0, rowStride: layout.tap, colStride: 1 },
      c: outY(c),
      batch: imageGroupBatch(c.images, g, [0, g.og * g.taps], [layout.image, layout.group], yBatch),
    });
  }
  queue.dropScratch(patches);
};

const conv2dInputGrad: Kernel<Conv2dAttrs> = ([gy, w], [dx], attrs) => {
  const g = geometry(dx!.shape, w!.shape, gy!.shape, attrs);
  const plane = g.height * g.width;
  const weightT = { storage: storageOf(w!), offset: w!.offset, rowStride: 1, colStride: g.taps };
  const grads = (c: Chunk) => ({ storage: storageOf(gy!), offset: gy!.offset + c.n0 * g.outChannels * g.pixels + c.p0, rowStride: g.pixels, colStride: 1 });
  const gyBatch: [number, number] = [g.outChannels * g.pixels, g.og * g.pixels];
  if (isPointwise(g)) {
    const all: Chunk = { n0: 0, images: g.batch, p0: 0, pixels: g.pixels };
    gemm({
      m: g.cg, n: g.pixels, k: g.og, a: weightT, b: grads(all),
      c: { storage: storageOf(dx!), offset: dx!.offset, ldc: plane },
      batch: imageGroupBatch(g.batch, g, [0, g.og * g.taps], gyBatch, [g.channels * plane, g.cg * plane]),
    });
    return;
  }
  const plan = chunks(g);
  if (plan.length === 0) return;
  const { queue } = webgpu();
  const largest = Math.max(...plan.map((c) => c.images * c.pixels));
  const patchGrads = queue.scratch(storageOf(dx!), 'float32', largest * g.groups * g.taps);
  for (const c of plan) {
    const layout = { image: g.groups * g.taps * c.pixels, group: g.taps * c.pixels, tap: c.pixels };
    gemm({
      m: g.taps, n: c.pixels, k: g.og, a: weightT, b: grads(c),
      c: { storage: patchGrads, offset: 0, ldc: layout.tap },
      batch: imageGroupBatch(c.images, g, [0, g.og * g.taps], gyBatch, [layout.image, layout.group]),
    });
    col2im(patchGrads, g, c, dx!, layout, c.p0 > 0);
  }
  queue.dropScratch(patchGrads);
};

/** Slices of K for the weight gradient; tests force a count to exercise the split on any adapter. */
let forcedSlices: number | undefined;
export function forceWeightGradSlices(slices: number | undefined): void {
  forcedSlices = slices;
}

/**
 * Into how many equal slices to cut the weight gradient's K (= images · pixels of a chunk): a power of two that
 * divides K, enough for the adapter's target of workgroups (one per 64×64 tile of C and slice), while slices
 * stay at least 256 long; a forced count is an upper bound.
 */
function weightGradSlices(g: Geometry, k: number): number {
  const workgroups = TUNING_TABLE[adapterClass(webgpu().adapter)].weightGradWorkgroups;
  const tiles = g.groups * Math.ceil(g.og / 64) * Math.ceil(g.taps / 64);
  const enough = forcedSlices === undefined ? (s: number) => tiles * s >= workgroups || k / (2 * s) < 256 : (s: number) => s >= forcedSlices!;
  let slices = 1;
  while (!enough(slices) && k % (2 * slices) === 0) slices *= 2;
  return slices;
}

/**
 * dW (+)= gy · Pᵀ for one chunk, per group: gy is [og][k] (row stride k), P is [tap][k] (group stride
 * `groupStride`). Split into slices, each slice's product goes to its own scratch matrix, and the slices are
 * summed by one more product, with a row of ones.
 */
function weightGradGemm(g: Geometry, k: number, grads: GpuStorage, patches: GpuStorage, groupStride: number, dw: View, accumulate: boolean): void {
  const slices = weightGradSlices(g, k);
  const out = { storage: storageOf(dw), offset: dw.offset, ldc: g.taps };
  const gy = { storage: grads, offset: 0, rowStride: k, colStride: 1 };
  const p = { storage: patches, offset: 0, rowStride: 1, colStride: k };
  const perGroup: [number[], number[], number[]] = [[g.og * k], [groupStride], [g.og * g.taps]];
  if (slices === 1) {
    gemm({ m: g.og, n: g.taps, k, a: gy, b: p, c: out, batch: { shape: [g.groups], strides: perGroup }, accumulate });
    return;
  }
  const { queue } = webgpu();
  const size = g.groups * g.og * g.taps;
  const partial = queue.scratch(storageOf(dw), 'float32', slices * size);
  const ones = queue.scratch(storageOf(dw), 'float32', slices);
  const step = k / slices;
  gemm({
    m: g.og, n: g.taps, k: step, a: gy, b: p,
    c: { storage: partial, offset: 0, ldc: g.taps },
    batch: { shape: [g.groups, slices], strides: [[g.og * k, step], [groupStride, step], [g.og * g.taps, size]] },
  });
  fill({ storage: ones, dtype: 'float32', shape: [slices], strides: [1], offset: 0 }, 1);
  gemm({
    m: 1, n: size, k: slices,
    a: { storage: ones, offset: 0, rowStride: slices, colStride: 1 },
    b: { storage: partial, offset: 0, rowStride: size, colStride: 1 },
    c: { ...out, ldc: size },
    batch: { shape: [], strides: [[], [], []] },
    accumulate,
  });
  queue.dropScratch(partial);
  queue.dropScratch(ones);
}

const conv2dWeightGrad: Kernel<Conv2dAttrs> = ([x, gy], [dw], attrs) => {
  const g = geometry(x!.shape, dw!.shape, gy!.shape, attrs);
  const plan = chunks(g);
  if (plan.length === 0) return fill(dw!, 0);
  const { queue } = webgpu();
  const largest = Math.max(...plan.map((c) => c.images * c.pixels));
  const patches = queue.scratch(storageOf(dw!), 'float32', largest * g.groups * g.taps);
  const grads = queue.scratch(storageOf(dw!), 'float32', largest * g.outChannels);
  plan.forEach((c, index) => {
    const k = c.images * c.pixels;
    // Here a group's patches are [tap][image·pixel], so that one K runs over the chunk's images and pixels.
    const layout = { image: c.pixels, group: g.taps * k, tap: k };
    im2col(x!, g, c, patches, layout);
    // gy of the chunk, reordered to [channel][image][pixel] likewise.
    const gyChunk: View = {
      ...gy!,
      shape: [g.outChannels, c.images, c.pixels],
      strides: [g.pixels, g.outChannels * g.pixels, 1],
      offset: gy!.offset + c.n0 * g.outChannels * g.pixels + c.p0,
    };
    elementwise('copy', [gyChunk], { ...gyChunk, storage: grads, offset: 0, strides: [k, c.pixels, 1] });
    weightGradGemm(g, k, grads, patches, layout.group, dw!, index > 0);
  });
  queue.dropScratch(patches);
  queue.dropScratch(grads);
};

export const convKernels: Record<string, Kernel> = {
  conv2d,
  conv2d_input_grad: conv2dInputGrad,
  conv2d_weight_grad: conv2dWeightGrad,
};
