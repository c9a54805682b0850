import { mkdir } from 'node:fs/promises';
import * as E from '../../engine/index.js';
import { COMMON_FLAGS, DATA_FLAGS, applyDataFlags, flagOverrides, onBackend, readyConfig, resolveConfig } from '../cli/common.js';
import { type EncodeConfig, encodeSchema } from '../config/schema.js';
import type { ImageDataset } from '../data/images.js';
import { LatentShardWriter, openLatents, writeLatentStats } from '../data/latents.js';
import { openImageDataset } from '../data/open.js';
import { TrainError } from '../errors.js';
import { loadAutoencoder } from '../models.js';
import { Progress } from '../report/progress.js';
import type { Command } from './command.js';

/**
 * The official latent extraction (`extract_features.py`): every image, centre-cropped, is encoded to a posterior
 * sample, and (with flip) so is its mirror image; shards of `shardSize` images; then the per-channel statistics.
 */
export async function encodeImages(config: EncodeConfig, dataset: ImageDataset): Promise<void> {
  const { model: vae, checkpoint } = await loadAutoencoder(config.vae);
  const { inChannels, resolution, embedDim, chMult } = vae.config;
  if (dataset.channels !== inChannels || dataset.imageSize !== resolution) {
    throw new TrainError(`the data are ${dataset.channels}-channel ${dataset.imageSize}×${dataset.imageSize} images but the autoencoder of ${checkpoint.path} takes ${inChannels}-channel ${resolution}×${resolution} images`);
  }
  const side = resolution / 2 ** (chMult.length - 1);
  await mkdir(config.out, { recursive: true });
  E.manualSeed(config.seed);
  const writer = new LatentShardWriter(config.out, [embedDim, side, side], config.shardSize, config.flip);
  const progress = new Progress({ label: 'encode', startStep: 0, totalSteps: Math.ceil(dataset.size / config.batchSize), batchSize: config.batchSize, logEvery: 10 });
  const plane = dataset.channels * dataset.imageSize * dataset.imageSize;
  for (let start = 0, batch = 1; start < dataset.size; start += config.batchSize, batch++) {
    const samples = [];
    for (let i = start; i < Math.min(start + config.batchSize, dataset.size); i++) {
      const plain = dataset.read(i, false);
      if (plain) samples.push({ plain, mirrored: config.flip ? dataset.read(i, true)! : undefined });
    }
    if (samples.length === 0) continue;
    const encode = (pixels: Float32Array[]) =>
      E.scope(() =>
        E.noGrad(() => {
          const x = E.fromArray(concat(pixels, plane), [pixels.length, dataset.channels, dataset.imageSize, dataset.imageSize]);
          return vae.encode(x).sample();
        }),
      );
    const z = encode(samples.map((s) => s.plain.pixels));
    const zFlip = config.flip ? encode(samples.map((s) => s.mirrored!.pixels)) : undefined;
    const values = (await z.toArray()) as Float32Array;
    const flipped = (await zFlip?.toArray()) as Float32Array | undefined;
    const per = values.length / samples.length;
    for (let k = 0; k < samples.length; k++) {
      await writer.add(values.slice(k * per, (k + 1) * per), flipped?.slice(k * per, (k + 1) * per), samples[k]!.plain.label);
    }
    z.dispose();
    zFlip?.dispose();
    progress.update(batch, { images: Math.min(start + config.batchSize, dataset.size) });
  }
  progress.done();
  const info = await writer.finish({ numClasses: dataset.classNames.length, classNames: [...dataset.classNames], vae: checkpoint.path, source: dataset.description });
  // The statistics are read back from the shards, through the same reader that training uses.
  const reader = await openLatents(config.out, { stats: false });
  const { mean, std } = await writeLatentStats(reader, config.out, config.statsSamples, config.seed);
  reader.close();
  console.log(`encode: ${info.count} images → ${info.shards.length} shard(s) of latents [${info.latentShape.join(', ')}] in ${config.out}`);
  console.log(`latent statistics: mean ${fmt(mean)}; std ${fmt(std)}`);
}

function fmt(values: Float64Array): string {
  return `[${[...values].map((v) => v.toFixed(3)).join(', ')}]`;
}

function concat(parts: Float32Array[], plane: number): Float32Array {
  const out = new Float32Array(parts.length * plane);
  parts.forEach((p, i) => out.set(p, i * plane));
  return out;
}

export const encodeCommand: Command = {
  name: 'encode',
  summary: 'encode an image set with a trained autoencoder into latent shards + statistics',
  flags: [
    ...COMMON_FLAGS,
    { name: 'vae', value: 'RUN|CHECKPOINT', help: 'the train-vae run folder or checkpoint (vae)' },
    { name: 'out', value: 'DIR', help: 'latent folder to write (out)' },
    { name: 'batch-size', value: 'N', help: 'images per encoder call (batchSize)' },
    { name: 'no-flip', help: 'do not encode mirrored images (flip: false)' },
    ...DATA_FLAGS,
  ],
  details: 'Example:\n  encode --vae runs/mnist/vae --out runs/mnist/latents --limit 10000',
  async run(args) {
    const extra = flagOverrides(args, { vae: { path: 'vae', text: true }, out: { path: 'out', text: true }, 'batch-size': { path: 'batchSize', integer: true } });
    if (args.values.has('no-flip')) extra.push(['flip', false]);
    const { config, source } = await resolveConfig(encodeSchema, args, readyConfig('mnist-encode.json'), extra, { adjust: (raw) => applyDataFlags(args, raw) });
    await onBackend(args, async () => {
      console.log(`configuration: ${source}`);
      const dataset = await openImageDataset(config.data);
      console.log(`data: ${dataset.description}`);
      await encodeImages(config, dataset);
    });
  },
};
