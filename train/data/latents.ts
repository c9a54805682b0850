import { closeSync, existsSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { type SafetensorsHeader, fromArray, loadSafetensors, readSafetensorsHeader, saveSafetensors } from '../../engine/index.js';
import { DataError } from '../errors.js';
import { writeJsonAtomic } from '../files.js';
import { DataOrder } from './order.js';

/*
 * Latent shards as the official `extract_features.py` writes them: safetensors files of ~10,000 images each, with
 * `latents` [N, C, h, w] (float32, posterior samples), `latents_flip` (the same images mirrored, encoded
 * separately) and `labels` [N] (int64); plus `latents_stats.safetensors` holding the per-channel `mean` and `std`
 * [1, C, 1, 1] that LightningDiT standardises with, and `dataset.json` describing the set (classes, shape).
 */

export const STATS_FILE = 'latents_stats.safetensors';
export const DATASET_FILE = 'dataset.json';

export function shardName(index: number): string {
  return `latents_rank00_shard${String(index).padStart(3, '0')}.safetensors`;
}

export interface LatentSetInfo {
  count: number;
  /** [C, h, w] of one latent. */
  latentShape: number[];
  numClasses: number;
  classNames: string[];
  /** Whether shards hold `latents_flip`. */
  flip: boolean;
  /** The autoencoder checkpoint that encoded them, and the data they came from. */
  vae: string;
  source: string;
  shards: string[];
}

/** Collects encoded batches and writes a shard whenever `shardSize` images are in. */
export class LatentShardWriter {
  private latents: Float32Array[] = [];
  private flipped: Float32Array[] = [];
  private labels: number[] = [];
  private readonly shards: string[] = [];
  private count = 0;

  constructor(
    readonly dir: string,
    readonly latentShape: readonly number[],
    readonly shardSize: number,
    readonly flip: boolean,
  ) {}

  private get perImage(): number {
    return this.latentShape.reduce((a, b) => a * b, 1);
  }

  /** One image's latent (and its mirror's, when the set has flips) and label. */
  async add(latent: Float32Array, flipped: Float32Array | undefined, label: number): Promise<void> {
    this.latents.push(latent);
    if (this.flip) this.flipped.push(flipped!);
    this.labels.push(label);
    this.count++;
    if (this.labels.length === this.shardSize) await this.writeShard();
  }

  private async writeShard(): Promise<void> {
    const n = this.labels.length;
    if (n === 0) return;
    const shape = [n, ...this.latentShape];
    const concat = (parts: Float32Array[]) => {
      const out = new Float32Array(n * this.perImage);
      parts.forEach((p, i) => out.set(p, i * this.perImage));
      return out;
    };
    const tensors: Record<string, ReturnType<typeof fromArray>> = {
      latents: fromArray(concat(this.latents), shape, { backend: 'cpu' }),
      labels: fromArray(Int32Array.from(this.labels), [n], { dtype: 'int32', backend: 'cpu' }),
    };
    if (this.flip) tensors.latents_flip = fromArray(concat(this.flipped), shape, { backend: 'cpu' });
    const name = shardName(this.shards.length);
    await saveSafetensors(join(this.dir, name), tensors, { storeAs: { labels: 'I64' } });
    Object.values(tensors).forEach((t) => t.dispose());
    this.shards.push(name);
    this.latents = [];
    this.flipped = [];
    this.labels = [];
  }

  /** Writes the last shard and `dataset.json`. */
  async finish(info: Omit<LatentSetInfo, 'count' | 'latentShape' | 'flip' | 'shards'>): Promise<LatentSetInfo> {
    await this.writeShard();
    const full: LatentSetInfo = { count: this.count, latentShape: [...this.latentShape], flip: this.flip, shards: this.shards, ...info };
    await writeJsonAtomic(join(this.dir, DATASET_FILE), full);
    return full;
  }
}

/** A latent set opened for training: every sample is read from its shard on demand. */
export interface LatentSet extends LatentSetInfo {
  readonly dir: string;
  /** Per-channel statistics (float64), from `latents_stats.safetensors` (empty when opened without them). */
  readonly mean: Float64Array;
  readonly std: Float64Array;
  /** The raw latent of sample `index` (mirrored version when `flip`), and its label. */
  read(index: number, flip: boolean): { latent: Float32Array; label: number };
  close(): void;
}

interface OpenShard {
  file: string;
  fd: number;
  count: number;
  latents: number;
  flipped: number | undefined;
}

function entryOf(file: string, header: SafetensorsHeader, key: string, shape: number[] | undefined): { start: number; shape: number[] } {
  const e = header.entries.find((x) => x.name === key);
  if (!e) throw new DataError(file, `has no '${key}' tensor (found: ${header.entries.map((x) => x.name).join(', ')})`);
  if (key !== 'labels' && e.dtype !== 'F32') throw new DataError(file, `'${key}' is ${e.dtype}; latents must be F32`);
  if (shape && e.shape.join() !== shape.join()) throw new DataError(file, `'${key}' has shape [${e.shape.join(', ')}], expected [${shape.join(', ')}]`);
  return { start: header.dataStart + e.begin, shape: e.shape };
}

function readLabels(file: string, fd: number, header: SafetensorsHeader, count: number): Int32Array {
  const e = header.entries.find((x) => x.name === 'labels');
  if (!e) throw new DataError(file, "has no 'labels' tensor");
  if (e.shape.join() !== String(count)) throw new DataError(file, `'labels' has shape [${e.shape.join(', ')}] for ${count} latents`);
  const bytes = Buffer.alloc(e.end - e.begin);
  readSync(fd, bytes, 0, bytes.length, header.dataStart + e.begin);
  if (e.dtype === 'I64') return Int32Array.from({ length: count }, (_, i) => Number(bytes.readBigInt64LE(8 * i)));
  if (e.dtype === 'I32') return Int32Array.from({ length: count }, (_, i) => bytes.readInt32LE(4 * i));
  throw new DataError(file, `'labels' is ${e.dtype}; expected I64 or I32`);
}

/**
 * Opens a folder written by `encode` (or the official extraction, given a `dataset.json`). `stats: false` opens it
 * before its statistics exist (to compute them).
 */
export async function openLatents(dir: string, { needFlip = false, stats = true }: { needFlip?: boolean; stats?: boolean } = {}): Promise<LatentSet> {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new DataError(dir, 'no such latent folder (run `encode` first)');
  const infoFile = join(dir, DATASET_FILE);
  if (!existsSync(infoFile)) throw new DataError(dir, `has no ${DATASET_FILE} (is this a folder written by \`encode\`?)`);
  const info = JSON.parse(readFileSync(infoFile, 'utf8')) as LatentSetInfo;
  if (needFlip && !info.flip) throw new DataError(dir, 'holds no flipped latents (encoded with flip off), but the config asks for flip augmentation (data.flipProb > 0)');
  const { mean, std } = stats ? await readStats(dir, info.latentShape[0]!) : { mean: new Float64Array(0), std: new Float64Array(0) };
  const shards: OpenShard[] = [];
  const labels: Int32Array[] = [];
  const fds: number[] = [];
  try {
    for (const name of info.shards) {
      const file = join(dir, name);
      if (!existsSync(file)) throw new DataError(file, `is listed in ${infoFile} but missing`);
      const header = await readSafetensorsHeader(file);
      const fd = openSync(file, 'r');
      fds.push(fd);
      const latents = entryOf(file, header, 'latents', undefined);
      const count = latents.shape[0]!;
      const shape = [count, ...info.latentShape];
      entryOf(file, header, 'latents', shape);
      const flipped = info.flip ? entryOf(file, header, 'latents_flip', shape).start : undefined;
      shards.push({ file, fd, count, latents: latents.start, flipped });
      labels.push(readLabels(file, fd, header, count));
    }
    const total = shards.reduce((a, s) => a + s.count, 0);
    if (total !== info.count) throw new DataError(dir, `${DATASET_FILE} says ${info.count} latents, the shards hold ${total}`);
  } catch (e) {
    fds.forEach((fd) => closeSync(fd));
    throw e;
  }

  const perImage = info.latentShape.reduce((a, b) => a * b, 1);
  const starts = shards.map((_, i) => shards.slice(0, i).reduce((a, s) => a + s.count, 0));
  const buffer = Buffer.alloc(perImage * 4);
  return {
    ...info,
    dir,
    mean,
    std,
    read(index, flip) {
      let s = starts.length - 1;
      while (starts[s]! > index) s--;
      const shard = shards[s]!;
      const local = index - starts[s]!;
      const base = flip ? shard.flipped : shard.latents;
      if (base === undefined) throw new DataError(shard.file, 'holds no latents_flip');
      readSync(shard.fd, buffer, 0, buffer.length, base + local * buffer.length);
      const latent = new Float32Array(perImage);
      new Uint8Array(latent.buffer).set(buffer);
      return { latent, label: labels[s]![local]! };
    },
    close() {
      shards.forEach((sh) => closeSync(sh.fd));
    },
  };
}

async function readStats(dir: string, channels: number): Promise<{ mean: Float64Array; std: Float64Array }> {
  const file = join(dir, STATS_FILE);
  if (!existsSync(file)) throw new DataError(dir, `has no ${STATS_FILE} (\`encode\` writes it)`);
  const { tensors } = await loadSafetensors(file, { backend: 'cpu' });
  const get = (key: string) => {
    const t = tensors.get(key);
    if (!t || t.size !== channels) throw new DataError(file, `needs '${key}' with ${channels} values (one per latent channel)`);
    return Float64Array.from(t.toArraySync());
  };
  const stats = { mean: get('mean'), std: get('std') };
  tensors.forEach((t) => t.dispose());
  return stats;
}

/**
 * The official statistics: per-channel mean and unbiased std over (N, h, w) of the unflipped latents of up to
 * `samples` randomly chosen images (10,000 officially), computed in float64 and saved as [1, C, 1, 1].
 */
export async function writeLatentStats(set: Pick<LatentSet, 'count' | 'latentShape' | 'read'>, dir: string, samples: number, seed: number): Promise<{ mean: Float64Array; std: Float64Array }> {
  const [c, h, w] = set.latentShape as [number, number, number];
  const order = DataOrder.fresh(set.count, seed);
  const n = Math.min(samples, set.count);
  const sum = new Float64Array(c);
  const sumSq = new Float64Array(c);
  // Two passes over the chosen latents would need them in memory; shifted sums stay accurate in one pass.
  const first = set.read(0, false).latent;
  const shift = Float64Array.from({ length: c }, (_, ch) => first[ch * h * w]!);
  for (let k = 0; k < n; k++) {
    const { latent } = set.read(order.next().index, false);
    for (let ch = 0; ch < c; ch++) {
      for (let p = 0; p < h * w; p++) {
        const d = latent[ch * h * w + p]! - shift[ch]!;
        sum[ch] += d;
        sumSq[ch] += d * d;
      }
    }
  }
  const count = n * h * w;
  const mean = Float64Array.from(sum, (s, ch) => shift[ch]! + s / count);
  const std = Float64Array.from(sumSq, (q, ch) => Math.sqrt(Math.max(0, (q - (sum[ch]! * sum[ch]!) / count) / (count - 1))));
  await saveSafetensors(join(dir, STATS_FILE), {
    mean: fromArray(Float32Array.from(mean), [1, c, 1, 1], { backend: 'cpu' }),
    std: fromArray(Float32Array.from(std), [1, c, 1, 1], { backend: 'cpu' }),
  });
  return { mean, std };
}
