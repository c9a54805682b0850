import { join } from 'node:path';
import { mkdir } from 'node:fs/promises';
import * as E from '../../engine/index.js';
import { VAVAETrainer } from '../../models/vavae/index.js';
import { disposeAll, listCheckpoints, loadCheckpoint, loadInto, prefixed, saveCheckpoint, section } from '../checkpoint.js';
import type { TrainVaeConfig } from '../config/schema.js';
import { imageBatch } from '../data/batches.js';
import type { ImageDataset } from '../data/images.js';
import { DataOrder } from '../data/order.js';
import { TrainError } from '../errors.js';
import { writeJsonAtomic } from '../files.js';
import { FROZEN_PREFIXES, buildVavae } from '../models.js';
import { enlarge, grid, toRasters, writePng } from '../report/images.js';
import { MetricsLog } from '../report/metrics.js';
import { type RunResult, readMetrics, runTraining } from './run.js';
import { captureState, dataSeed, restoreState } from './state.js';

/**
 * VA-VAE training (official `vavae/main.py` with the `f16d32_vfdinov2` recipes): the autoencoder and the
 * discriminator with their two Adam optimisers, the generator loss (L1 [+ LPIPS] + KL + adaptive GAN after
 * discStart + adaptive VF alignment), one `VAVAETrainer.step` per batch. Every `sampleEvery` steps a picture of
 * fixed inputs (top row) and their reconstructions (posterior mode, bottom row) is written.
 */
export async function trainVae(config: TrainVaeConfig, dataset: ImageDataset, resumeFrom?: string): Promise<RunResult> {
  if (dataset.channels !== config.model.inChannels || dataset.imageSize !== config.model.resolution) {
    throw new TrainError(
      `the data are ${dataset.channels}-channel ${dataset.imageSize}×${dataset.imageSize} images but the model expects model.inChannels ${config.model.inChannels} and model.resolution ${config.model.resolution}`,
    );
  }
  if (!resumeFrom && listCheckpoints(config.out).length > 0) {
    throw new TrainError(`${config.out} already holds checkpoints of an earlier run: continue it with --resume, or choose another --out`);
  }
  await mkdir(config.out, { recursive: true });
  await writeJsonAtomic(join(config.out, 'config.json'), config);
  E.manualSeed(config.seed);
  const model = await buildVavae(config);
  const trainer = new VAVAETrainer(model, { lr: config.optimizer.lr, betas: config.optimizer.betas, projFix: config.optimizer.projFix });
  // The discriminator trains in train mode (batch statistics); the frozen helpers stay in eval mode, as officially.
  model.train();
  model.foundation_model?.eval();
  model.loss.perceptual_loss?.eval();
  const order = DataOrder.fresh(dataset.size, dataSeed(config.seed));
  const resume = resumeFrom ? await loadCheckpoint(resumeFrom, 'train-vae') : undefined;
  const metrics = await MetricsLog.open(join(config.out, 'metrics.jsonl'), config.log.every, resume?.meta.step ?? 0);
  const optimizers = { ae: trainer.aeOptimizer, disc: trainer.discOptimizer };
  const isFrozen = (key: string) => FROZEN_PREFIXES.some((p) => key.startsWith(p));

  if (resume) {
    loadInto(model, section(resume.tensors, 'model.'), resume.path, 'VA-VAE', isFrozen);
    restoreState(resume, order, metrics, optimizers);
    trainer.globalStep = (resume.meta.state as { globalStep: number }).globalStep;
    disposeAll(resume.tensors);
  }

  // Fixed inputs for the reconstruction pictures: the first images of the set, unflipped.
  const previewCount = Math.min(8, dataset.size);
  const preview = Array.from({ length: previewCount }, (_, i) => dataset.read(i, false)).filter((s) => s !== null);

  return runTraining({
    label: 'train-vae',
    runDir: config.out,
    startStep: resume?.meta.step ?? 0,
    totalSteps: config.train.steps,
    batchSize: config.train.batchSize,
    maxMinutes: config.train.maxMinutes,
    checkpointEvery: config.checkpoint.every,
    plotEvery: config.log.plotEvery,
    sampleEvery: config.log.sampleEvery,
    metrics,
    lastCheckpoint: resume?.path,
    step() {
      return E.scope(async () => {
        const { x } = imageBatch(dataset, order, config.train.batchSize, config.hflip ? 0.5 : 0);
        const log = trainer.step(x);
        return readMetrics({ loss: log.loss, nll: log.nllLoss, kl: log.klLoss, disc: log.discLoss, gan: log.gLoss, vf: log.vfLoss });
      });
    },
    async saveCheckpoint(step) {
      const { state, tensors } = captureState(order, metrics, optimizers);
      const weights = prefixed('model.', [...model.stateDict()].filter(([k]) => !isFrozen(k)));
      return saveCheckpoint(config.out, { kind: 'train-vae', step, config, state: { ...state, globalStep: trainer.globalStep } }, new Map([...weights, ...tensors]), config.checkpoint.keep);
    },
    async writeSamples(step) {
      const rows = await E.scope(async () => {
        const x = E.fromArray(concat(preview.map((s) => s.pixels)), [preview.length, dataset.channels, dataset.imageSize, dataset.imageSize]);
        const reconstruction = E.noGrad(() => model.decode(model.encode(x).mode()));
        return [...(await toRasters(x)), ...(await toRasters(reconstruction))];
      });
      const path = join(config.out, 'samples', `step-${String(step).padStart(8, '0')}.png`);
      await writePng(path, enlarge(grid(rows, preview.length), dataset.imageSize < 64 ? 4 : 1));
      return path;
    },
  });
}

function concat(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
