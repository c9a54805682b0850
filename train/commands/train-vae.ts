import { join } from 'node:path';
import { COMMON_FLAGS, DATA_FLAGS, TRAINING_FLAGS, TRAINING_FLAG_PATHS, applyDataFlags, flagOverrides, onBackend, readyConfig, resolveConfig } from '../cli/common.js';
import { trainVaeSchema } from '../config/schema.js';
import { openImageDataset } from '../data/open.js';
import { trainVae } from '../loops/vae.js';
import type { Command } from './command.js';

export const trainVaeCommand: Command = {
  name: 'train-vae',
  summary: 'train the VA-VAE tokenizer (autoencoder + discriminator + VF alignment) on images',
  flags: [...COMMON_FLAGS, ...TRAINING_FLAGS, ...DATA_FLAGS],
  details: [
    'Examples:',
    '  train-vae                                   # MNIST, train/configs/mnist-vavae.json',
    '  train-vae --data photos/ --set data.imageSize=64 --set model.resolution=64',
    '  train-vae --config train/configs/imagenet-vavae-f16d32.json --set data.path=/data/imagenet/train',
    '  train-vae --resume runs/mnist/vae --steps 2000',
  ].join('\n'),
  async run(args) {
    const { config, source, resume } = await resolveConfig(trainVaeSchema, args, readyConfig('mnist-vavae.json'), flagOverrides(args, TRAINING_FLAG_PATHS), {
      kind: 'train-vae',
      adjust: (raw) => applyDataFlags(args, raw),
    });
    await onBackend(args, async () => {
      console.log(`configuration: ${source}`);
      const dataset = await openImageDataset(config.data);
      console.log(`data: ${dataset.description}`);
      const result = await trainVae(config, dataset, resume);
      console.log(`train-vae ${result.reason} at step ${result.step}; checkpoint ${result.checkpoint}; loss curve ${join(config.out, 'loss.png')}`);
      if (result.reason === 'interrupted') process.exitCode = 130;
    });
  },
};
