import { EngineError } from '../engine/errors.js';
import type { RasterImage } from './png.js';

/*
 * A small rasteriser for scatter plots like `latent_vis.py`'s: points coloured by a value through matplotlib's
 * viridis colour map, drawn in order as alpha-blended discs on white, axes hidden.
 */

/** Matplotlib's viridis at 0, 1/8, …, 1; colours between are interpolated linearly. */
const VIRIDIS: readonly (readonly [number, number, number])[] = [
  [68, 1, 84],
  [71, 45, 123],
  [59, 82, 139],
  [44, 114, 142],
  [33, 145, 140],
  [40, 174, 128],
  [94, 201, 98],
  [173, 220, 48],
  [253, 231, 37],
];

/** The viridis colour of t ∈ [0, 1] (clamped). */
export function viridis(t: number): [number, number, number] {
  const x = Math.min(Math.max(t, 0), 1) * (VIRIDIS.length - 1);
  const i = Math.min(Math.floor(x), VIRIDIS.length - 2);
  const f = x - i;
  const [a, b] = [VIRIDIS[i]!, VIRIDIS[i + 1]!];
  return [0, 1, 2].map((c) => Math.round(a[c]! + f * (b[c]! - a[c]!))) as [number, number, number];
}

export interface ScatterOptions {
  width?: number;
  height?: number;
  /** Disc radius in pixels. */
  radius?: number;
  /** Opacity of each disc (matplotlib's alpha). */
  alpha?: number;
  /** Empty border in pixels around the data's bounding box. */
  margin?: number;
}

/** Points (N×2, row-major) scaled to fill the image (y up), coloured by `values` mapped from their min…max to viridis. */
export function scatterPlot(points: ArrayLike<number>, values: ArrayLike<number>, options: ScatterOptions = {}): RasterImage {
  const { width = 600, height = 500, radius = 2.5, alpha = 0.6, margin = 10 } = options;
  const n = values.length;
  if (points.length !== 2 * n) throw new EngineError(`scatterPlot: ${points.length / 2} points for ${n} values`);
  const data = new Uint8Array(width * height * 3).fill(255);
  if (n === 0) return { width, height, channels: 3, data };

  const range = (values: number[]) => [Math.min(...values), Math.max(...values)] as const;
  const [x0, x1] = range(Array.from({ length: n }, (_, i) => points[2 * i]!));
  const [y0, y1] = range(Array.from({ length: n }, (_, i) => points[2 * i + 1]!));
  const [v0, v1] = range(Array.from(values));
  const span = (lo: number, hi: number) => (hi > lo ? hi - lo : 1);
  const inner = (size: number) => size - 2 * margin - 1;

  for (let i = 0; i < n; i++) {
    const cx = margin + ((points[2 * i]! - x0) / span(x0, x1)) * inner(width);
    const cy = height - 1 - margin - ((points[2 * i + 1]! - y0) / span(y0, y1)) * inner(height);
    const colour = viridis((values[i]! - v0) / span(v0, v1));
    for (let py = Math.max(0, Math.ceil(cy - radius)); py <= Math.min(height - 1, Math.floor(cy + radius)); py++) {
      for (let px = Math.max(0, Math.ceil(cx - radius)); px <= Math.min(width - 1, Math.floor(cx + radius)); px++) {
        if ((px - cx) ** 2 + (py - cy) ** 2 > radius * radius) continue;
        const at = (py * width + px) * 3;
        for (let c = 0; c < 3; c++) data[at + c] = Math.round(alpha * colour[c]! + (1 - alpha) * data[at + c]!);
      }
    }
  }
  return { width, height, channels: 3, data };
}
