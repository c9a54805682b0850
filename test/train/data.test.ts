import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import jpeg from 'jpeg-js';
import { describe, expect, test, vi } from 'vitest';
import { DataError } from '../../train/errors.js';
import { decodeImage, encodePng } from '../../train/data/decode.js';
import { openImageFolder } from '../../train/data/images.js';
import { LatentShardWriter, openLatents, writeLatentStats } from '../../train/data/latents.js';
import { DataOrder } from '../../train/data/order.js';
import { type Raster, centerCropArr, resize, toGrey } from '../../train/data/raster.js';
import { makeImageFolder, tempDir } from './helpers.js';

const grey = (width: number, height: number, f: (x: number, y: number) => number): Raster => ({
  width,
  height,
  channels: 1,
  data: Uint8Array.from({ length: width * height }, (_, i) => f(i % width, Math.floor(i / width))),
});

describe('PIL-style resampling and the ADM centre crop', () => {
  test('BOX halving averages 2×2 blocks (rounded)', () => {
    const img = grey(4, 2, (x, y) => [10, 20, 30, 41][x]! + 100 * y);
    expect([...resize(img, 2, 1, 'box').data]).toEqual([65, 86]);
  });

  test('BICUBIC keeps a constant image constant, at any size', () => {
    const img = grey(7, 5, () => 123);
    for (const [w, h] of [[3, 2], [11, 9], [7, 5]] as const) expect(new Set(resize(img, w, h, 'bicubic').data)).toEqual(new Set([123]));
  });

  test('BICUBIC down by 2 of a step: the hand-computed PIL weights (support 4, a = −0.5)', () => {
    // Output 0 reads inputs 0..3 with weights b(−0.25), b(0.25), b(0.75), b(1.25) = .8671875, .8671875, .2265625, −.0703125.
    expect([...resize(grey(4, 1, (x) => (x < 2 ? 0 : 255)), 2, 1, 'bicubic').data]).toEqual([21, 234]);
  });

  test('center_crop_arr: halves while the short side is ≥ 2·size, resizes the short side to size, crops the middle', () => {
    const img = grey(300, 200, (x) => (x < 150 ? 0 : 255));
    const out = centerCropArr(img, 64);
    expect([out.width, out.height]).toEqual([64, 64]);
    // 300×200 → 150×100 (BOX) → 96×64 (BICUBIC) → columns 16..79: the step stays in the middle.
    expect(out.data[32 * 64 + 10]).toBe(0);
    expect(out.data[32 * 64 + 54]).toBe(255);
  });

  test("grey conversion is PIL's L = (19595 R + 38470 G + 7471 B + 2^15) >> 16", () => {
    const rgb: Raster = { width: 2, height: 1, channels: 3, data: Uint8Array.from([255, 0, 0, 10, 200, 30]) };
    expect([...toGrey(rgb).data]).toEqual([76, 124]);
  });

  test('PNG and JPEG decode by content, whatever the file name', () => {
    const png = encodePng(grey(3, 2, (x, y) => 40 * x + y));
    expect(decodeImage(png).width).toBe(3);
    const jpg = jpeg.encode({ width: 8, height: 8, data: new Uint8Array(8 * 8 * 4).fill(128) }, 95).data;
    const decoded = decodeImage(jpg);
    expect([decoded.width, decoded.height, decoded.channels]).toEqual([8, 8, 4]);
    expect(Math.abs(decoded.data[0]! - 128)).toBeLessThanOrEqual(2);
    expect(() => decodeImage(Uint8Array.from([1, 2, 3, 4]))).toThrow(/neither a PNG nor a JPEG/);
  });
});

describe('image folders (torchvision ImageFolder convention)', () => {
  test('classes are the sorted subfolders; images are centre-cropped and scaled to [−1, 1]', async () => {
    const root = await makeImageFolder(join(await tempDir('folder'), 'set'), { classes: ['b-square', 'a-circle'], perClass: 2, size: 20 });
    const set = openImageFolder({ path: root, imageSize: 16, channels: 1 });
    expect(set.classNames).toEqual(['a-circle', 'b-square']);
    expect(set.size).toBe(4);
    const sample = set.read(3, false)!;
    expect(sample.label).toBe(1);
    expect(sample.pixels.length).toBe(16 * 16);
    expect(Math.min(...sample.pixels)).toBeGreaterThanOrEqual(-1);
    expect(Math.max(...sample.pixels)).toBeLessThanOrEqual(1);
    expect(openImageFolder({ path: root, imageSize: 16, channels: 3 }).read(0, false)!.pixels.length).toBe(3 * 16 * 16);
  });

  test('a missing folder, a file, and a folder without classes or images are DataErrors naming the path', async () => {
    const dir = await tempDir('bad');
    expect(() => openImageFolder({ path: join(dir, 'nope'), imageSize: 8, channels: 1 })).toThrow(/nope: no such folder/);
    await writeFile(join(dir, 'file.png'), 'x');
    expect(() => openImageFolder({ path: join(dir, 'file.png'), imageSize: 8, channels: 1 })).toThrow(/file\.png: is a file, not a folder/);
    await mkdir(join(dir, 'empty'));
    expect(() => openImageFolder({ path: join(dir, 'empty'), imageSize: 8, channels: 1 })).toThrow(/has no class subfolders/);
    await mkdir(join(dir, 'noimages', 'cat'), { recursive: true });
    await writeFile(join(dir, 'noimages', 'cat', 'notes.txt'), 'hi');
    expect(() => openImageFolder({ path: join(dir, 'noimages'), imageSize: 8, channels: 1 })).toThrow(/no \.png, \.jpg or \.jpeg files/);
  });

  test('a corrupt image stops with an error naming the file, or is skipped with a warning when asked', async () => {
    const root = await makeImageFolder(join(await tempDir('corrupt'), 'set'), { perClass: 2, size: 12 });
    const bad = join(root, 'square', 'img0.png');
    const good = encodePng(grey(12, 12, () => 0));
    await writeFile(bad, good.subarray(0, good.length - 20)); // a PNG cut short
    const strict = openImageFolder({ path: root, imageSize: 8, channels: 1 });
    const index = 2; // square/img0.png, after circle's two images
    expect(() => strict.read(index, false)).toThrow(DataError);
    expect(() => strict.read(index, false)).toThrow(new RegExp(`${bad.replace(/[/.]/g, '\\$&')}: cannot decode the image .*--skip-corrupt`));
    const warn = vi.fn();
    const lenient = openImageFolder({ path: root, imageSize: 8, channels: 1, skipCorrupt: true, warn });
    expect(lenient.read(index, false)).toBeNull();
    expect(lenient.read(index, false)).toBeNull();
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0]![0]).toContain(bad);
    expect(lenient.read(0, false)).not.toBeNull();
  });
});

describe('data order', () => {
  test('each epoch is a permutation, different from the last; the same seed gives the same order', () => {
    const a = DataOrder.fresh(10, 7);
    const b = DataOrder.fresh(10, 7);
    const epoch0 = Array.from({ length: 10 }, () => a.next().index);
    const epoch1 = Array.from({ length: 10 }, () => a.next().index);
    expect([...epoch0].sort((x, y) => x - y)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect([...epoch1].sort((x, y) => x - y)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(epoch1).not.toEqual(epoch0);
    expect(Array.from({ length: 10 }, () => b.next().index)).toEqual(epoch0);
    const otherSeed = DataOrder.fresh(10, 8);
    expect(Array.from({ length: 10 }, () => otherSeed.next().index)).not.toEqual(epoch0);
  });

  test('a restored state continues exactly, indices and coins', () => {
    const a = DataOrder.fresh(7, 3);
    for (let i = 0; i < 9; i++) a.next();
    const saved = a.getState();
    const rest = Array.from({ length: 12 }, () => a.next());
    const b = DataOrder.fresh(7, 3);
    b.setState(saved);
    expect(Array.from({ length: 12 }, () => b.next())).toEqual(rest);
  });
});

describe('latent shards', () => {
  test('written in shards with flips and labels, read back exactly, with unbiased per-channel statistics', async () => {
    const dir = await tempDir('latents');
    const shape = [2, 2, 2];
    const writer = new LatentShardWriter(dir, shape, 3, true);
    const latents = Array.from({ length: 5 }, (_, i) => Float32Array.from({ length: 8 }, (_, k) => i + k / 8 + (k < 4 ? 0 : 10)));
    for (const [i, z] of latents.entries()) await writer.add(z, z.map((v) => -v), i % 2);
    const info = await writer.finish({ numClasses: 2, classNames: ['even', 'odd'], vae: 'vae.json', source: 'test' });
    expect(info.shards).toHaveLength(2);
    const raw = await openLatents(dir, { stats: false });
    const stats = await writeLatentStats(raw, dir, 100, 0);
    raw.close();
    const set = await openLatents(dir, { needFlip: true });
    for (const [i, z] of latents.entries()) {
      expect(set.read(i, false)).toEqual({ latent: z, label: i % 2 });
      expect([...set.read(i, true).latent]).toEqual([...z].map((v) => -v));
    }
    // Channel 0 holds i + k/8 for k < 4: mean 2.1875; the unbiased std over 20 values.
    const values = latents.flatMap((z) => [...z.subarray(0, 4)]);
    const mean = values.reduce((a, b) => a + b) / values.length;
    const std = Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / (values.length - 1));
    expect(stats.mean[0]).toBeCloseTo(mean, 6);
    expect(stats.std[0]).toBeCloseTo(std, 6);
    expect(set.mean[1]).toBeCloseTo(mean + 10.5, 5); // k = 4..7: k/8 is 0.5 larger on average
    set.close();
  });

  test('missing folders, missing statistics and missing flips are clear errors', async () => {
    const dir = await tempDir('latents-bad');
    await expect(openLatents(join(dir, 'nope'))).rejects.toThrow(/no such latent folder \(run `encode` first\)/);
    await expect(openLatents(dir)).rejects.toThrow(/has no dataset\.json/);
    const writer = new LatentShardWriter(dir, [1, 1, 1], 10, false);
    await writer.add(Float32Array.of(1), undefined, 0);
    await writer.finish({ numClasses: 1, classNames: ['x'], vae: 'v', source: 's' });
    await expect(openLatents(dir)).rejects.toThrow(/has no latents_stats\.safetensors/);
    await expect(openLatents(dir, { needFlip: true, stats: false })).rejects.toThrow(/holds no flipped latents/);
  });
});
