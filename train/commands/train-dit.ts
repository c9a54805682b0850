import { join } from 'node:path';
import { COMMON_FLAGS, TRAINING_FLAGS, TRAINING_FLAG_PATHS, flagOverrides, onBackend, readyConfig, resolveConfig } from '../cli/common.js';
import { trainDitSchema } from '../config/schema.js';
import { openLatents } from '../data/latents.js';
import { trainDit } from '../loops/dit.js';
import type { Command } from './command.js';

export const trainDitCommand: Command = {
  name: 'train-dit',
  summary: 'train LightningDiT on latents written by `encode`',
  flags: [
    ...COMMON_FLAGS,
    ...TRAINING_FLAGS,
    { name: 'latents', value: 'DIR', help: 'latent folder written by encode (data.latents)' },
    { name: 'vae', value: 'RUN|CHECKPOINT', help: "autoencoder that decodes the sample grids, 'none' for no grids (vae)" },
    { name: 'grad-accumulation', value: 'N', help: 'micro-batches per optimiser step (train.gradAccumulation)' },
  ],
  details: [
    'Examples:',
    '  train-dit                                   # MNIST latents, train/configs/mnist-dit.json',
    '  train-dit --config train/configs/imagenet-lightningdit-xl1.json --grad-accumulation 64',
    '  train-dit --resume runs/mnist/dit',
  ].join('\n'),
  async run(args) {
    const extra = flagOverrides(args, {
      ...TRAINING_FLAG_PATHS,
      latents: { path: 'data.latents', text: true },
      vae: { path: 'vae', text: true, nullable: true },
      'grad-accumulation': { path: 'train.gradAccumulation', integer: true },
    });
    const { config, source, resume } = await resolveConfig(trainDitSchema, args, readyConfig('mnist-dit.json'), extra, { kind: 'train-dit' });
    await onBackend(args, async () => {
      console.log(`configuration: ${source}`);
      const latents = await openLatents(config.data.latents, { needFlip: config.data.flipProb > 0 });
      console.log(`data: ${latents.count} latents of shape [${latents.latentShape.join(', ')}], ${latents.numClasses} classes, from ${latents.dir}`);
      try {
        const result = await trainDit(config, latents, resume);
        console.log(`train-dit ${result.reason} at step ${result.step}; checkpoint ${result.checkpoint}; loss curve ${join(config.out, 'loss.png')}`);
        if (result.reason === 'interrupted') process.exitCode = 130;
      } finally {
        latents.close();
      }
    });
  },
};
