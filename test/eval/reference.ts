/*
 * Plain-loop float64 reference implementations of the layers the evaluation networks are built from, written
 * straight from their definitions (PyTorch semantics), for checking the engine-op versions on small inputs.
 */

/** An image batch [N, C, H, W] as flat float64 values. */
export interface Images {
  shape: [number, number, number, number];
  data: Float64Array;
}

export function at(x: Images, n: number, c: number, y: number, xx: number): number {
  const [, channels, height, width] = x.shape;
  return x.data[((n * channels + c) * height + y) * width + xx]!;
}

/** Cross-correlation with zero padding [ph, pw], stride s, weight [O, C, kh, kw], optional bias. */
export function conv2d(x: Images, weight: Float64Array, [o, kh, kw]: [number, number, number], { stride = 1, padding = [0, 0] as [number, number], bias }: { stride?: number; padding?: [number, number]; bias?: Float64Array } = {}): Images {
  const [n, c, h, w] = x.shape;
  const oh = Math.floor((h + 2 * padding[0] - kh) / stride) + 1;
  const ow = Math.floor((w + 2 * padding[1] - kw) / stride) + 1;
  const out = new Float64Array(n * o * oh * ow);
  for (let b = 0; b < n; b++) {
    for (let f = 0; f < o; f++) {
      for (let y = 0; y < oh; y++) {
        for (let xx = 0; xx < ow; xx++) {
          let s = bias ? bias[f]! : 0;
          for (let ch = 0; ch < c; ch++) {
            for (let i = 0; i < kh; i++) {
              for (let j = 0; j < kw; j++) {
                const iy = y * stride - padding[0] + i;
                const ix = xx * stride - padding[1] + j;
                if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                s += weight[((f * c + ch) * kh + i) * kw + j]! * at(x, b, ch, iy, ix);
              }
            }
          }
          out[((b * o + f) * oh + y) * ow + xx] = s;
        }
      }
    }
  }
  return { shape: [n, o, oh, ow], data: out };
}

export function map(x: Images, f: (v: number, channel: number) => number): Images {
  const [, c, h, w] = x.shape;
  return { shape: x.shape, data: x.data.map((v, i) => f(v, Math.floor(i / (h * w)) % c)) };
}

export const relu = (x: Images): Images => map(x, (v) => Math.max(v, 0));

/** Window reductions with padding p and stride s; `reduce` sees the values inside the image only. */
export function pool(x: Images, k: number, s: number, p: number, reduce: (values: number[]) => number): Images {
  const [n, c, h, w] = x.shape;
  const oh = Math.floor((h + 2 * p - k) / s) + 1;
  const ow = Math.floor((w + 2 * p - k) / s) + 1;
  const out = new Float64Array(n * c * oh * ow);
  for (let b = 0; b < n; b++) {
    for (let ch = 0; ch < c; ch++) {
      for (let y = 0; y < oh; y++) {
        for (let xx = 0; xx < ow; xx++) {
          const values: number[] = [];
          for (let i = 0; i < k; i++) {
            for (let j = 0; j < k; j++) {
              const iy = y * s - p + i;
              const ix = xx * s - p + j;
              if (iy >= 0 && iy < h && ix >= 0 && ix < w) values.push(at(x, b, ch, iy, ix));
            }
          }
          out[((b * c + ch) * oh + y) * ow + xx] = reduce(values);
        }
      }
    }
  }
  return { shape: [n, c, oh, ow], data: out };
}

export const maxPool = (x: Images, k: number, s: number, p = 0) => pool(x, k, s, p, (v) => Math.max(...v));
export const averageWithoutPadding = (x: Images, k: number, s: number, p = 0) => pool(x, k, s, p, (v) => v.reduce((a, b) => a + b, 0) / v.length);

/** Concatenation along channels. */
export function catChannels(parts: readonly Images[]): Images {
  const [n, , h, w] = parts[0]!.shape;
  const c = parts.reduce((s, p) => s + p.shape[1], 0);
  const out = new Float64Array(n * c * h * w);
  for (let b = 0; b < n; b++) {
    let offset = 0;
    for (const p of parts) {
      const size = p.shape[1] * h * w;
      out.set(p.data.subarray(b * size, (b + 1) * size), (b * c * h + offset * h) * w);
      offset += p.shape[1];
    }
  }
  return { shape: [n, c, h, w], data: out };
}
