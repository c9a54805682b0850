import { describe, expect, test } from 'vitest';
import fc from 'fast-check';
import * as E from '../../engine/index.js';
import type { Conv2dOptions, Tensor } from '../../engine/index.js';
import { numel } from '../../engine/shape.js';
import { tensorArb, valuesArb } from '../helpers/arbitraries.js';
import { opProperty } from '../helpers/props.js';
import { expectOpError } from '../helpers/expect.js';
import { dyadic } from '../helpers/reference.js';

/*
 * conv2d and its two gradient ops: gradients to second order (opProperty) in fixed geometries, forward values
 * of all three against direct loops on random geometries (odd sizes, strides, asymmetric padding, dilation,
 * groups, the 1×1 shortcut), and the pooling and resampling layers built on them. Values are dyadic (k/64),
 * so every sum here is exact in float64 and the loop references can be compared exactly.
 */

type Quad = [number, number, number, number];

interface Geometry {
  n: number;
  groups: number;
  groupChannels: number;
  groupOutChannels: number;
  h: number;
  w: number;
  kh: number;
  kw: number;
  stride: [number, number];
  padding: Quad;
  dilation: [number, number];
}

const f64 = (values: ArrayLike<number>, shape: readonly number[]): Tensor => E.fromArray(Array.from(values), shape, { dtype: 'float64' });
const list = (t: Tensor): number[] => Array.from(t.toArraySync());

function shapesOf(g: Geometry) {
  const outH = Math.floor((g.h + g.padding[0] + g.padding[1] - g.dilation[0] * (g.kh - 1) - 1) / g.stride[0]) + 1;
  const outW = Math.floor((g.w + g.padding[2] + g.padding[3] - g.dilation[1] * (g.kw - 1) - 1) / g.stride[1]) + 1;
  const c = g.groups * g.groupChannels;
  const o = g.groups * g.groupOutChannels;
  return { x: [g.n, c, g.h, g.w], weight: [o, g.groupChannels, g.kh, g.kw], y: [g.n, o, outH, outW], outH, outW };
}

const optionsOf = (g: Geometry): Conv2dOptions => ({ stride: g.stride, padding: g.padding, dilation: g.dilation, groups: g.groups });

/**
 * Visits every (output element, kernel tap) pair whose input position lies inside the image, with the flat
 * indices of the input, weight and output elements: the 7-loop definition of a grouped, strided, dilated,
 * padded cross-correlation, from which the three references below follow.
 */
function forEachTap(g: Geometry, visit: (xAt: number, wAt: number, yAt: number) => void): void {
  const { outH, outW } = shapesOf(g);
  const c = g.groups * g.groupChannels;
  const o = g.groups * g.groupOutChannels;
  for (let n = 0; n < g.n; n++)
    for (let oc = 0; oc < o; oc++)
      for (let oy = 0; oy < outH; oy++)
        for (let ox = 0; ox < outW; ox++)
          for (let ic = 0; ic < g.groupChannels; ic++)
            for (let i = 0; i < g.kh; i++)
              for (let j = 0; j < g.kw; j++) {
                const iy = oy * g.stride[0] - g.padding[0] + i * g.dilation[0];
                const ix = ox * g.stride[1] - g.padding[2] + j * g.dilation[1];
                if (iy < 0 || iy >= g.h || ix < 0 || ix >= g.w) continue;
                const channel = Math.floor(oc / g.groupOutChannels) * g.groupChannels + ic;
                visit(((n * c + channel) * g.h + iy) * g.w + ix, ((oc * g.groupChannels + ic) * g.kh + i) * g.kw + j, ((n * o + oc) * outH + oy) * outW + ox);
              }
}

function naiveConv(g: Geometry, x: number[], w: number[]): number[] {
  const y = new Array<number>(numel(shapesOf(g).y)).fill(0);
  forEachTap(g, (xi, wi, yi) => (y[yi] += x[xi]! * w[wi]!));
  return y;
}
function naiveInputGrad(g: Geometry, gy: number[], w: number[]): number[] {
  const gx = new Array<number>(numel(shapesOf(g).x)).fill(0);
  forEachTap(g, (xi, wi, yi) => (gx[xi] += gy[yi]! * w[wi]!));
  return gx;
}
function naiveWeightGrad(g: Geometry, x: number[], gy: number[]): number[] {
  const gw = new Array<number>(numel(shapesOf(g).weight)).fill(0);
  forEachTap(g, (xi, wi, yi) => (gw[wi] += gy[yi]! * x[xi]!));
  return gw;
}

const side = (max: number) => fc.integer({ min: 1, max });
const validGeometry = (g: Geometry) => shapesOf(g).outH >= 1 && shapesOf(g).outW >= 1;

/** Random geometries: any stride, asymmetric padding, dilation and group count. */
const geometryArb: fc.Arbitrary<Geometry> = fc
  .record({
    n: side(2),
    groups: side(3),
    groupChannels: side(3),
    groupOutChannels: side(3),
    h: side(9),
    w: side(9),
    kh: side(3),
    kw: side(3),
    stride: fc.tuple(side(3), side(3)),
    padding: fc.tuple(fc.nat(2), fc.nat(2), fc.nat(2), fc.nat(2)),
    dilation: fc.tuple(side(2), side(2)),
  })
  .filter(validGeometry);

/** 1×1 kernels with stride 1 and no padding, which skip im2col. */
const pointwiseArb: fc.Arbitrary<Geometry> = geometryArb.map((g) => ({ ...g, kh: 1, kw: 1, stride: [1, 1], padding: [0, 0, 0, 0] }));

const caseArb = fc.oneof(geometryArb, pointwiseArb).chain((g) => {
  const s = shapesOf(g);
  return fc.tuple(fc.constant(g), valuesArb(numel(s.x)), valuesArb(numel(s.weight)), valuesArb(numel(s.y)));
});

describe('conv2d: values', () => {
  test('forward, input gradient and weight gradient equal the direct loops', () => {
    fc.assert(
      fc.property(caseArb, ([g, x, w, gy]) => {
        const s = shapesOf(g);
        const opts = optionsOf(g);
        const y = E.conv2d(f64(x, s.x), f64(w, s.weight), null, opts);
        expect(y.shape).toEqual(s.y);
        expect(list(y)).toEqual(naiveConv(g, x, w));
        const gx = E.conv2dInputGrad(f64(gy, s.y), f64(w, s.weight), [g.h, g.w], opts);
        expect(gx.shape).toEqual(s.x);
        expect(list(gx)).toEqual(naiveInputGrad(g, gy, w));
        const gw = E.conv2dWeightGrad(f64(x, s.x), f64(gy, s.y), [g.kh, g.kw], opts);
        expect(gw.shape).toEqual(s.weight);
        expect(list(gw)).toEqual(naiveWeightGrad(g, x, gy));
      }),
    );
  });

  test('matrices larger than the matmul cache blocks', () => {
    const g: Geometry = { n: 2, groups: 1, groupChannels: 29, groupOutChannels: 6, h: 20, w: 21, kh: 3, kw: 3, stride: [1, 1], padding: [1, 1, 1, 1], dilation: [1, 1] };
    const s = shapesOf(g);
    const [x, w, gy] = [dyadic(numel(s.x), 1), dyadic(numel(s.weight), 2), dyadic(numel(s.y), 3)];
    expect(list(E.conv2d(f64(x, s.x), f64(w, s.weight), null, optionsOf(g)))).toEqual(naiveConv(g, x, w));
    expect(list(E.conv2dInputGrad(f64(gy, s.y), f64(w, s.weight), [g.h, g.w], optionsOf(g)))).toEqual(naiveInputGrad(g, gy, w));
    expect(list(E.conv2dWeightGrad(f64(x, s.x), f64(gy, s.y), [g.kh, g.kw], optionsOf(g)))).toEqual(naiveWeightGrad(g, x, gy));
  });

  test('padding forms: a number, [ph, pw] and [top, bottom, left, right] agree', () => {
    const x = f64(dyadic(2 * 5 * 6, 4), [1, 2, 5, 6]);
    const w = f64(dyadic(3 * 2 * 3 * 3, 5), [3, 2, 3, 3]);
    expect(list(E.conv2d(x, w, null, { padding: 1 }))).toEqual(list(E.conv2d(x, w, null, { padding: [1, 1, 1, 1] })));
    expect(list(E.conv2d(x, w, null, { padding: [2, 1] }))).toEqual(list(E.conv2d(x, w, null, { padding: [2, 2, 1, 1] })));
  });

  test('bias is added per output channel', () => {
    const x = f64(dyadic(2 * 4 * 4, 6), [1, 2, 4, 4]);
    const w = f64(dyadic(3 * 2 * 2 * 2, 7), [3, 2, 2, 2]);
    const bias = f64([0.5, -1, 2], [3]);
    const plain = list(E.conv2d(x, w));
    expect(list(E.conv2d(x, w, bias))).toEqual(plain.map((v, i) => v + [0.5, -1, 2][Math.floor(i / 9)]!));
  });

  test('bad inputs throw OpInputError naming the op and the shapes', () => {
    const t = (shape: number[], dtype: E.DType = 'float64') => E.zeros(shape, { dtype });
    expectOpError(() => E.conv2d(t([1, 3, 5]), t([2, 3, 3, 3])), 'conv2d', [1, 3, 5], [2, 3, 3, 3]);
    expectOpError(() => E.conv2d(t([1, 3, 5, 5]), t([2, 2, 3, 3])), 'conv2d', [1, 3, 5, 5], [2, 2, 3, 3]);
    expectOpError(() => E.conv2d(t([1, 4, 5, 5]), t([3, 2, 3, 3]), null, { groups: 2 }), 'conv2d', [1, 4, 5, 5], [3, 2, 3, 3]);
    expectOpError(() => E.conv2d(t([1, 1, 2, 2]), t([1, 1, 3, 3])), 'conv2d', [1, 1, 2, 2], [1, 1, 3, 3]);
    expectOpError(() => E.conv2d(t([1, 1, 5, 5]), t([1, 1, 3, 3]), null, { dilation: 3 }), 'conv2d', [1, 1, 5, 5]);
    expectOpError(() => E.conv2d(t([1, 1, 5, 5]), t([1, 1, 3, 3]), null, { stride: 0 }), 'conv2d', [1, 1, 5, 5]);
    expectOpError(() => E.conv2d(t([1, 1, 5, 5]), t([1, 1, 3, 3]), null, { padding: -1 }), 'conv2d', [1, 1, 5, 5]);
    expectOpError(() => E.conv2d(t([1, 1, 5, 5]), t([1, 1, 3, 3]), null, { padding: [1, 1, 1] as never }), 'conv2d', [1, 1, 5, 5]);
    expectOpError(() => E.conv2d(t([1, 1, 5, 5]), t([1, 1, 3, 3], 'float32')), 'conv2d', [1, 1, 5, 5], [1, 1, 3, 3]);
    expectOpError(() => E.conv2d(t([1, 1, 5, 5]), t([2, 1, 3, 3]), t([3])), 'conv2d', [1, 1, 5, 5], [2, 1, 3, 3], [3]);
    expectOpError(() => E.conv2dInputGrad(t([1, 2, 3, 3]), t([2, 1, 3, 3]), [6, 6]), 'conv2d_input_grad', [1, 2, 3, 3], [2, 1, 3, 3]);
    expectOpError(() => E.conv2dInputGrad(t([1, 3, 3, 3]), t([2, 1, 3, 3]), [5, 5]), 'conv2d_input_grad', [1, 3, 3, 3], [2, 1, 3, 3]);
    expectOpError(() => E.conv2dWeightGrad(t([2, 1, 5, 5]), t([1, 2, 3, 3]), [3, 3]), 'conv2d_weight_grad', [2, 1, 5, 5], [1, 2, 3, 3]);
    expectOpError(() => E.conv2dWeightGrad(t([1, 1, 5, 5]), t([1, 2, 3, 3]), [2, 2]), 'conv2d_weight_grad', [1, 1, 5, 5], [1, 2, 3, 3]);
  });
});

/*
 * Gradient properties in fixed geometries (property functions see only tensors, so the geometry is fixed per
 * block while batch, channel and spatial sizes and all values are random).
 */
interface Config {
  label: string;
  opts: Conv2dOptions & { stride: [number, number]; padding: Quad; dilation: [number, number]; groups: number };
  kernel: [number, number];
}

const configs: Config[] = [
  { label: 'plain 2×2', opts: { stride: [1, 1], padding: [0, 0, 0, 0], dilation: [1, 1], groups: 1 }, kernel: [2, 2] },
  { label: 'stride [2, 1], asymmetric padding', opts: { stride: [2, 1], padding: [1, 0, 2, 1], dilation: [1, 1], groups: 1 }, kernel: [3, 2] },
  { label: 'dilation 2, padding 1, 2 groups', opts: { stride: [1, 1], padding: [1, 1, 1, 1], dilation: [2, 2], groups: 2 }, kernel: [2, 2] },
  { label: '1×1 (no im2col)', opts: { stride: [1, 1], padding: [0, 0, 0, 0], dilation: [1, 1], groups: 1 }, kernel: [1, 1] },
];

for (const { label, opts, kernel } of configs) {
  describe(`conv2d gradients: ${label}`, () => {
    const geometry = fc
      .record({ n: side(2), groupChannels: side(2), groupOutChannels: side(2), h: side(5), w: side(5) })
      .map((r): Geometry => ({ ...r, groups: opts.groups, kh: kernel[0], kw: kernel[1], stride: opts.stride, padding: opts.padding, dilation: opts.dilation }))
      .filter((g) => validGeometry(g) && numel(shapesOf(g).x) <= 36 && numel(shapesOf(g).y) <= 24);
    const numRuns = 12;

    opProperty('conv2d', {
      inputs: geometry.chain((g) => fc.tuple(tensorArb(shapesOf(g).x), tensorArb(shapesOf(g).weight))),
      fn: (x, w) => E.conv2d(x!, w!, null, opts),
      numRuns,
    });

    // The input size of a strided convolution is ambiguous from its output; here the largest one that fits.
    const inputSizeFor = (out: readonly number[]): [number, number] =>
      [0, 1].map((i) => (out[i]! - 1) * opts.stride[i]! + opts.dilation[i]! * (kernel[i]! - 1) + 1 - opts.padding[2 * i]! - opts.padding[2 * i + 1]! + opts.stride[i]! - 1) as [number, number];
    opProperty('conv2d_input_grad', {
      inputs: geometry.chain((g) => fc.tuple(tensorArb(shapesOf(g).y), tensorArb(shapesOf(g).weight))),
      fn: (gy, w) => E.conv2dInputGrad(gy!, w!, inputSizeFor(gy!.shape.slice(2)), opts),
      numRuns,
    });

    opProperty('conv2d_weight_grad', {
      inputs: geometry.chain((g) => fc.tuple(tensorArb(shapesOf(g).x), tensorArb(shapesOf(g).y))),
      fn: (x, gy) => E.conv2dWeightGrad(x!, gy!, kernel, opts),
      numRuns,
    });
  });
}

/* ---------------------------------------------------------------- pooling and resampling */

function naiveAvgPool(x: number[], [n, c, h, w]: number[], [kh, kw]: number[], [sh, sw]: number[], [ph, pw]: number[]) {
  const outH = Math.floor((h + 2 * ph - kh) / sh) + 1;
  const outW = Math.floor((w + 2 * pw - kw) / sw) + 1;
  const y: number[] = [];
  for (let plane = 0; plane < n * c; plane++)
    for (let oy = 0; oy < outH; oy++)
      for (let ox = 0; ox < outW; ox++) {
        let s = 0;
        for (let i = 0; i < kh; i++)
          for (let j = 0; j < kw; j++) {
            const iy = oy * sh - ph + i;
            const ix = ox * sw - pw + j;
            if (iy >= 0 && iy < h && ix >= 0 && ix < w) s += x[(plane * h + iy) * w + ix]!;
          }
        y.push(s / (kh * kw));
      }
  return { shape: [n, c, outH, outW], data: y };
}

/** PyTorch's bilinear rule (align_corners=False) written out per output pixel. */
function naiveBilinear(x: number[], [n, c, h, w]: number[], [outH, outW]: number[]) {
  const source = (d: number, inSize: number, outSize: number) => {
    const src = Math.max(0, (d + 0.5) * (inSize / outSize) - 0.5);
    const lo = Math.floor(src);
    return { lo, hi: lo < inSize - 1 ? lo + 1 : lo, t: src - lo };
  };
  const y: number[] = [];
  for (let plane = 0; plane < n * c; plane++)
    for (let oy = 0; oy < outH; oy++)
      for (let ox = 0; ox < outW; ox++) {
        const r = source(oy, h, outH);
        const q = source(ox, w, outW);
        const at = (iy: number, ix: number) => x[(plane * h + iy) * w + ix]!;
        y.push((1 - r.t) * ((1 - q.t) * at(r.lo, q.lo) + q.t * at(r.lo, q.hi)) + r.t * ((1 - q.t) * at(r.hi, q.lo) + q.t * at(r.hi, q.hi)));
      }
  return y;
}

describe('avgPool2d', () => {
  test('equals the window mean with padded zeros counted (count_include_pad)', () => {
    const arb = fc
      .record({ n: side(2), c: side(3), h: side(7), w: side(7), kh: side(3), kw: side(3), sh: side(3), sw: side(3), ph: fc.nat(1), pw: fc.nat(1) })
      .filter((r) => 2 * r.ph <= r.kh && 2 * r.pw <= r.kw && r.h + 2 * r.ph >= r.kh && r.w + 2 * r.pw >= r.kw)
      .chain((r) => fc.tuple(fc.constant(r), valuesArb(r.n * r.c * r.h * r.w)));
    fc.assert(
      fc.property(arb, ([r, x]) => {
        const shape = [r.n, r.c, r.h, r.w];
        const expected = naiveAvgPool(x, shape, [r.kh, r.kw], [r.sh, r.sw], [r.ph, r.pw]);
        const y = E.avgPool2d(f64(x, shape), [r.kh, r.kw], [r.sh, r.sw], [r.ph, r.pw]);
        expect(y.shape).toEqual(expected.shape);
        list(y).forEach((v, i) => expect(v).toBeCloseTo(expected.data[i]!, 12));
      }),
    );
  });

  test('stride defaults to the kernel size, and the gradient passes gradcheck', () => {
    const x = f64(dyadic(2 * 4 * 6, 8), [1, 2, 4, 6]);
    expect(list(E.avgPool2d(x, 2))).toEqual(list(E.avgPool2d(x, 2, 2, 0)));
    expect(E.avgPool2d(x, [2, 3]).shape).toEqual([1, 2, 2, 2]);
    expect(E.gradcheck((t) => E.avgPool2d(t, 3, 2, 1), [x]).verdict).toBe('pass');
  });

  test('bad inputs throw OpInputError naming the op and the shapes', () => {
    const x = E.zeros([1, 2, 4, 4], { dtype: 'float64' });
    expectOpError(() => E.avgPool2d(x, 2, 2, 2), 'avg_pool2d', [1, 2, 4, 4]);
    expectOpError(() => E.avgPool2d(x, 5), 'avg_pool2d', [1, 2, 4, 4]);
    expectOpError(() => E.avgPool2d(E.zeros([2, 4, 4], { dtype: 'float64' }), 2), 'avg_pool2d', [2, 4, 4]);
  });
});

describe('upsampleNearest', () => {
  test('repeats each pixel fh × fw times, and its gradient sums them back', () => {
    const x = f64([1, 2, 3, 4, 5, 6], [1, 1, 2, 3]);
    const y = E.upsampleNearest(x, [2, 1]);
    expect(y.shape).toEqual([1, 1, 4, 3]);
    expect(list(y)).toEqual([1, 2, 3, 1, 2, 3, 4, 5, 6, 4, 5, 6]);
    expect(list(E.upsampleNearest(x, 2))).toEqual([1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 4, 4, 5, 5, 6, 6]);
    const leaf = f64([1, 2, 3, 4, 5, 6], [1, 1, 2, 3]).requiresGrad_();
    const [g] = E.grad(E.sum(E.mul(E.upsampleNearest(leaf, [2, 3]), E.upsampleNearest(leaf, [2, 3]))), [leaf]);
    expect(list(g!)).toEqual([1, 2, 3, 4, 5, 6].map((v) => 2 * v * 6));
  });

  test('bad inputs throw OpInputError naming the op and the shapes', () => {
    const x = E.zeros([1, 1, 2, 2], { dtype: 'float64' });
    expectOpError(() => E.upsampleNearest(x, 1.5), 'upsample_nearest', [1, 1, 2, 2]);
    expectOpError(() => E.upsampleNearest(x, 0), 'upsample_nearest', [1, 1, 2, 2]);
    expectOpError(() => E.upsampleNearest(E.zeros([2, 2], { dtype: 'float64' }), 2), 'upsample_nearest', [2, 2]);
  });
});

describe('interpolateBilinear', () => {
  test('matches the values torch.nn.functional.interpolate gives (align_corners=False)', () => {
    // torch.nn.functional.interpolate(torch.tensor([[[[1., 2.], [3., 4.]]]]), size=(4, 4), mode='bilinear')
    const up = E.interpolateBilinear(f64([1, 2, 3, 4], [1, 1, 2, 2]), [4, 4]);
    expect(list(up)).toEqual([1, 1.25, 1.75, 2, 1.5, 1.75, 2.25, 2.5, 2.5, 2.75, 3.25, 3.5, 3, 3.25, 3.75, 4]);
    // Halving averages pixel pairs; the same size is the identity.
    const row = f64([0, 1, 2, 3], [1, 1, 1, 4]);
    expect(list(E.interpolateBilinear(row, [1, 2]))).toEqual([0.5, 2.5]);
    expect(list(E.interpolateBilinear(row, [1, 4]))).toEqual([0, 1, 2, 3]);
  });

  test('equals the per-pixel rule on random sizes, up or down', () => {
    const arb = fc
      .record({ n: side(2), c: side(2), h: side(6), w: side(6), outH: side(9), outW: side(9) })
      .chain((r) => fc.tuple(fc.constant(r), valuesArb(r.n * r.c * r.h * r.w)));
    fc.assert(
      fc.property(arb, ([r, x]) => {
        const shape = [r.n, r.c, r.h, r.w];
        const y = E.interpolateBilinear(f64(x, shape), [r.outH, r.outW]);
        expect(y.shape).toEqual([r.n, r.c, r.outH, r.outW]);
        const expected = naiveBilinear(x, shape, [r.outH, r.outW]);
        list(y).forEach((v, i) => expect(v).toBeCloseTo(expected[i]!, 12));
      }),
    );
  });

  test('its gradient passes gradcheck', () => {
    const x = f64(dyadic(2 * 3 * 2, 9), [1, 2, 3, 2]);
    expect(E.gradcheck((t) => E.interpolateBilinear(t, [4, 3]), [x]).verdict).toBe('pass');
  });

  test('bad inputs throw OpInputError naming the op and the shapes', () => {
    const x = E.zeros([1, 1, 2, 2], { dtype: 'float64' });
    expectOpError(() => E.interpolateBilinear(x, [0, 2]), 'interpolate_bilinear', [1, 1, 2, 2]);
    expectOpError(() => E.interpolateBilinear(E.zeros([1, 2, 2], { dtype: 'float64' }), [3, 3]), 'interpolate_bilinear', [1, 2, 2]);
  });
});
