import type { Raster } from '../data/raster.js';

/*
 * A small rasteriser for loss curves: an RGB canvas, lines by Bresenham's algorithm, and a 3×5 pixel font
 * (drawn at twice its size) for tick labels and titles. The y axis is logarithmic when every value is positive.
 */

type Rgb = readonly [number, number, number];

class Canvas {
  readonly data: Uint8Array;
  constructor(readonly width: number, readonly height: number, background: Rgb) {
    this.data = new Uint8Array(width * height * 3);
    for (let i = 0; i < width * height; i++) this.data.set(background, i * 3);
  }

  set(x: number, y: number, colour: Rgb): void {
    x = Math.round(x);
    y = Math.round(y);
    if (x < 0 || y < 0 || x >= this.width || y >= this.height) return;
    this.data.set(colour, (y * this.width + x) * 3);
  }

  line(x0: number, y0: number, x1: number, y1: number, colour: Rgb): void {
    [x0, y0, x1, y1] = [x0, y0, x1, y1].map(Math.round) as [number, number, number, number];
    const dx = Math.abs(x1 - x0);
    const dy = -Math.abs(y1 - y0);
    const sx = x0 < x1 ? 1 : -1;
    const sy = y0 < y1 ? 1 : -1;
    let err = dx + dy;
    for (;;) {
      this.set(x0, y0, colour);
      if (x0 === x1 && y0 === y1) return;
      const e2 = 2 * err;
      if (e2 >= dy) {
        err += dy;
        x0 += sx;
      }
      if (e2 <= dx) {
        err += dx;
        y0 += sy;
      }
    }
  }

  /** Text with its top-left corner at (x, y); `align` right puts its right edge at x. */
  text(x: number, y: number, s: string, colour: Rgb, align: 'left' | 'right' | 'center' = 'left'): void {
    const scale = 2;
    const advance = 4 * scale;
    const width = s.length * advance - scale;
    const left = align === 'left' ? x : align === 'right' ? x - width : x - width / 2;
    [...s].forEach((ch, k) => {
      const glyph = FONT[ch.toLowerCase()] ?? FONT['?']!;
      glyph.forEach((row, gy) => {
        for (let gx = 0; gx < 3; gx++) {
          if (row[gx] !== '#') continue;
          for (let py = 0; py < scale; py++) for (let px = 0; px < scale; px++) this.set(left + k * advance + gx * scale + px, y + gy * scale + py, colour);
        }
      });
    });
  }

  toRaster(): Raster {
    return { width: this.width, height: this.height, channels: 3, data: this.data };
  }
}

// prettier-ignore
const FONT: Record<string, readonly string[]> = {
  '0': ['###', '#.#', '#.#', '#.#', '###'], '1': ['.#.', '##.', '.#.', '.#.', '###'], '2': ['###', '..#', '###', '#..', '###'],
  '3': ['###', '..#', '.##', '..#', '###'], '4': ['#.#', '#.#', '###', '..#', '..#'], '5': ['###', '#..', '###', '..#', '###'],
  '6': ['###', '#..', '###', '#.#', '###'], '7': ['###', '..#', '.#.', '.#.', '.#.'], '8': ['###', '#.#', '###', '#.#', '###'],
  '9': ['###', '#.#', '###', '..#', '###'], '.': ['...', '...', '...', '...', '.#.'], '-': ['...', '...', '###', '...', '...'],
  '+': ['...', '.#.', '###', '.#.', '...'], ' ': ['...', '...', '...', '...', '...'], '(': ['.#.', '#..', '#..', '#..', '.#.'],
  ')': ['.#.', '..#', '..#', '..#', '.#.'], '/': ['..#', '..#', '.#.', '#..', '#..'], ':': ['...', '.#.', '...', '.#.', '...'],
  '?': ['###', '..#', '.##', '...', '.#.'], '_': ['...', '...', '...', '...', '###'], ',': ['...', '...', '...', '.#.', '#..'],
  a: ['.#.', '#.#', '###', '#.#', '#.#'], b: ['##.', '#.#', '##.', '#.#', '##.'], c: ['.##', '#..', '#..', '#..', '.##'],
  d: ['##.', '#.#', '#.#', '#.#', '##.'], e: ['###', '#..', '##.', '#..', '###'], f: ['###', '#..', '##.', '#..', '#..'],
  g: ['.##', '#..', '#.#', '#.#', '.##'], h: ['#.#', '#.#', '###', '#.#', '#.#'], i: ['###', '.#.', '.#.', '.#.', '###'],
  j: ['..#', '..#', '..#', '#.#', '.#.'], k: ['#.#', '#.#', '##.', '#.#', '#.#'], l: ['#..', '#..', '#..', '#..', '###'],
  m: ['#.#', '###', '###', '#.#', '#.#'], n: ['##.', '#.#', '#.#', '#.#', '#.#'], o: ['.#.', '#.#', '#.#', '#.#', '.#.'],
  p: ['##.', '#.#', '##.', '#..', '#..'], q: ['.#.', '#.#', '#.#', '.#.', '..#'], r: ['##.', '#.#', '##.', '#.#', '#.#'],
  s: ['.##', '#..', '.#.', '..#', '##.'], t: ['###', '.#.', '.#.', '.#.', '.#.'], u: ['#.#', '#.#', '#.#', '#.#', '###'],
  v: ['#.#', '#.#', '#.#', '#.#', '.#.'], w: ['#.#', '#.#', '###', '###', '#.#'], x: ['#.#', '#.#', '.#.', '#.#', '#.#'],
  y: ['#.#', '#.#', '.#.', '.#.', '.#.'], z: ['###', '..#', '.#.', '#..', '###'],
};

/** About `count` round tick values covering [lo, hi] (steps of 1, 2 or 5 times a power of ten). */
export function niceTicks(lo: number, hi: number, count: number): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw)!;
  const ticks: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  return ticks;
}

function label(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) return v.toExponential(0).replace('e+', 'e');
  return String(Number(v.toPrecision(3)));
}

export interface Series {
  name: string;
  points: readonly (readonly [number, number])[];
  colour: Rgb;
}

/** A line chart of one or more series against the step. */
export function lineChart(title: string, series: readonly Series[], { width = 720, height = 400 } = {}): Raster {
  const canvas = new Canvas(width, height, [255, 255, 255]);
  const all = series.flatMap((s) => s.points).filter(([, y]) => Number.isFinite(y));
  const margin = { left: 70, right: 20, top: 34, bottom: 40 };
  const ink: Rgb = [40, 40, 40];
  const faint: Rgb = [225, 225, 225];
  canvas.text(width / 2, 10, title, ink, 'center');
  if (all.length === 0) return canvas.toRaster();
  const xs = all.map(([x]) => x);
  const ys = all.map(([, y]) => y);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs, Math.min(...xs) + 1)];
  const logY = ys.every((y) => y > 0);
  const f = logY ? Math.log10 : (y: number) => y;
  let [y0, y1] = [Math.min(...ys.map(f)), Math.max(...ys.map(f))];
  if (y1 - y0 < 1e-9) [y0, y1] = [y0 - 0.5, y1 + 0.5];
  const pad = (y1 - y0) * 0.05;
  [y0, y1] = [y0 - pad, y1 + pad];
  const plotW = width - margin.left - margin.right;
  const plotH = height - margin.top - margin.bottom;
  const px = (x: number) => margin.left + ((x - x0) / (x1 - x0)) * plotW;
  const py = (y: number) => margin.top + (1 - (f(y) - y0) / (y1 - y0)) * plotH;

  const yTicks = logY ? niceTicks(10 ** y0, 10 ** y1, 6).filter((t) => t > 0) : niceTicks(y0, y1, 6);
  for (const t of yTicks) {
    const y = py(t);
    if (y < margin.top - 0.5 || y > margin.top + plotH + 0.5) continue;
    canvas.line(margin.left, y, margin.left + plotW, y, faint);
    canvas.text(margin.left - 6, y - 5, label(t), ink, 'right');
  }
  for (const t of niceTicks(x0, x1, 6)) {
    const x = px(t);
    canvas.line(x, margin.top + plotH, x, margin.top + plotH + 4, ink);
    canvas.text(x, margin.top + plotH + 8, label(t), ink, 'center');
  }
  canvas.text(margin.left + plotW / 2, height - 14, 'step', ink, 'center');
  canvas.line(margin.left, margin.top, margin.left, margin.top + plotH, ink);
  canvas.line(margin.left, margin.top + plotH, margin.left + plotW, margin.top + plotH, ink);

  series.forEach((s, k) => {
    const finite = s.points.filter(([, y]) => Number.isFinite(y) && (!logY || y > 0));
    for (let i = 1; i < finite.length; i++) canvas.line(px(finite[i - 1]![0]), py(finite[i - 1]![1]), px(finite[i]![0]), py(finite[i]![1]), s.colour);
    if (finite.length === 1) canvas.set(px(finite[0]![0]), py(finite[0]![1]), s.colour);
    // Legend, top right.
    const ly = margin.top + 8 + k * 14;
    canvas.line(width - margin.right - 150, ly + 4, width - margin.right - 130, ly + 4, s.colour);
    canvas.text(width - margin.right - 124, ly, s.name, ink);
  });
  return canvas.toRaster();
}

/** Exponential moving average of a curve, debiased as TensorBoard's smoothing (the start is not pulled towards 0). */
export function smooth(points: readonly (readonly [number, number])[], weight = 0.9): [number, number][] {
  let acc = 0;
  return points.map(([x, y], i) => {
    acc = weight * acc + (1 - weight) * y;
    return [x, acc / (1 - weight ** (i + 1))];
  });
}
