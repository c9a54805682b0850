import { type Tensor } from '../../engine/index.js';
import { encodePng } from '../data/decode.js';
import type { Raster } from '../data/raster.js';
import { writeFileAtomic } from '../files.js';

/**
 * Model images [N, C, H, W] in [−1, 1] to 8-bit rasters the official way: trunc(clamp(127.5·x + 128, 0, 255)).
 * Grey for one channel, RGB for three.
 */
export async function toRasters(images: Tensor): Promise<Raster[]> {
  const [n, c, h, w] = images.shape as [number, number, number, number];
  if (images.rank !== 4 || (c !== 1 && c !== 3)) throw new RangeError(`toRasters: expected images [N, 1 or 3, H, W], got [${images.shape.join(', ')}]`);
  const values = await images.toArray();
  return Array.from({ length: n }, (_, i) => {
    const data = new Uint8Array(h * w * c);
    for (let ch = 0; ch < c; ch++) {
      for (let p = 0; p < h * w; p++) {
        const v = 127.5 * values[((i * c + ch) * h * w) + p]! + 128;
        data[p * c + ch] = v >= 255 ? 255 : v <= 0 ? 0 : Math.trunc(v);
      }
    }
    return { width: w, height: h, channels: c, data };
  });
}

/** Images in rows of `columns`, separated and framed by `gap` pixels of `background`. */
export function grid(images: readonly Raster[], columns: number, { gap = 2, background = 40 }: { gap?: number; background?: number } = {}): Raster {
  const first = images[0];
  if (!first) throw new RangeError('grid: no images');
  const { width: w, height: h, channels } = first;
  const rows = Math.ceil(images.length / columns);
  const width = columns * (w + gap) + gap;
  const height = rows * (h + gap) + gap;
  const data = new Uint8Array(width * height * channels).fill(background);
  images.forEach((img, k) => {
    const x0 = gap + (k % columns) * (w + gap);
    const y0 = gap + Math.floor(k / columns) * (h + gap);
    for (let y = 0; y < h; y++) data.set(img.data.subarray(y * w * channels, (y + 1) * w * channels), ((y0 + y) * width + x0) * channels);
  });
  return { width, height, channels, data };
}

/** Each image scaled up by an integer factor (nearest neighbour), so that small digits are visible. */
export function enlarge(image: Raster, factor: number): Raster {
  if (factor === 1) return image;
  const { width, height, channels } = image;
  const out = new Uint8Array(width * factor * height * factor * channels);
  for (let y = 0; y < height * factor; y++) {
    for (let x = 0; x < width * factor; x++) {
      const from = (Math.floor(y / factor) * width + Math.floor(x / factor)) * channels;
      out.set(image.data.subarray(from, from + channels), (y * width * factor + x) * channels);
    }
  }
  return { width: width * factor, height: height * factor, channels, data: out };
}

export async function writePng(path: string, image: Raster): Promise<void> {
  await writeFileAtomic(path, encodePng(image));
}
