import { join } from 'node:path';
import { mkdir } from 'node:fs/promises';
import * as E from '../../engine/index.js';
import { Generator } from '../../engine/index.js';
import { trainingLosses } from '../../models/transport/index.js';
import { AdamW, clipGradNorm, updateEma } from '../../nn/index.js';
import { disposeAll, listCheckpoints, loadCheckpoint, loadInto, prefixed, saveCheckpoint, section } from '../checkpoint.js';
import type { TrainDitConfig } from '../config/schema.js';
import { latentBatch } from '../data/batches.js';
import type { LatentSet } from '../data/latents.js';
import { DataOrder } from '../data/order.js';
import { TrainError } from '../errors.js';
import { writeJsonAtomic } from '../files.js';
import { buildDit, ditConfig, loadAutoencoder } from '../models.js';
import { enlarge, grid, writePng } from '../report/images.js';
import { MetricsLog } from '../report/metrics.js';
import { gridLabels, paint } from '../sampling.js';
import { type RunResult, readMetrics, runTraining } from './run.js';
import { captureState, dataSeed, restoreState } from './state.js';

/** What a DiT checkpoint records of its latents (in `state.latents`). */
export interface DitLatentInfo {
  shape: number[];
  mean: number[];
  std: number[];
  classNames: string[];
  /** The autoencoder that encoded them. */
  vae: string;
}

/** The picture grids use their own noise stream (fixed, so that successive grids are comparable). */
const SAMPLE_STREAM = 2 * 2 ** 32;

/**
 * The EMA decay for update number `step` (1-based). Official: the fixed decay from the first step. With `warmup`
 * (a deviation for short runs): min(decay, (1 + step)/(10 + step)), so the average forgets the random start.
 */
export function emaDecay(ema: TrainDitConfig['ema'], step: number): number {
  return ema.warmup ? Math.min(ema.decay, (1 + step) / (10 + step)) : ema.decay;
}

/**
 * LightningDiT training (official `train.py`): latents standardised per channel, flipped with probability
 * flipProb, the rectified-flow loss (logit-normal t, velocity MSE + cosine term), AdamW, an EMA copy updated
 * after every step, label dropout inside the model. A step of batchSize images is gradAccumulation micro-batches
 * whose gradients add up (each micro-batch loss divided by their number).
 */
export async function trainDit(config: TrainDitConfig, latents: LatentSet, resumeFrom?: string): Promise<RunResult> {
  const { batchSize, gradAccumulation } = config.train;
  if (batchSize % gradAccumulation !== 0) throw new TrainError(`train.batchSize ${batchSize} is not a multiple of train.gradAccumulation ${gradAccumulation}`);
  const micro = batchSize / gradAccumulation;
  if (!resumeFrom && listCheckpoints(config.out).length > 0) {
    throw new TrainError(`${config.out} already holds checkpoints of an earlier run: continue it with --resume, or choose another --out`);
  }
  await mkdir(config.out, { recursive: true });
  await writeJsonAtomic(join(config.out, 'config.json'), config);

  E.manualSeed(config.seed);
  const modelConfig = ditConfig(config.model, latents.latentShape, latents.numClasses);
  const model = buildDit(modelConfig);
  const ema = buildDit(modelConfig);
  ema.loadStateDict(model.stateDict());
  ema.eval().requiresGrad_(false);
  const params = model.parameters().filter((p) => p.requiresGrad);
  const optimizer = new AdamW(params, { lr: config.optimizer.lr, betas: config.optimizer.betas, weightDecay: config.optimizer.weightDecay, eps: config.optimizer.eps });
  const order = DataOrder.fresh(latents.count, dataSeed(config.seed));
  const resume = resumeFrom ? await loadCheckpoint(resumeFrom, 'train-dit') : undefined;
  const metrics = await MetricsLog.open(join(config.out, 'metrics.jsonl'), config.log.every, resume?.meta.step ?? 0);
  const vae = config.vae ? (await loadAutoencoder(config.vae)).model : undefined;

  if (resume) {
    loadInto(model, section(resume.tensors, 'model.'), resume.path, 'LightningDiT');
    loadInto(ema, section(resume.tensors, 'ema.'), resume.path, 'EMA');
    restoreState(resume, order, metrics, { adamw: optimizer });
    disposeAll(resume.tensors);
  }
  console.log(`LightningDiT: ${(model.numParameters() / 1e6).toFixed(2)}M parameters, ${modelConfig.depth} blocks of width ${modelConfig.hiddenSize}, ${(modelConfig.inputSize / modelConfig.patchSize) ** 2} tokens`);

  // Enough about the latents for `sample` to work without the latent folder.
  const latentInfo: DitLatentInfo = { shape: latents.latentShape, mean: [...latents.mean], std: [...latents.std], classNames: latents.classNames, vae: latents.vae };
  const norm = { latentNorm: config.data.latentNorm, latentMultiplier: config.data.latentMultiplier };
  const gridClasses = config.sample.classes ?? Array.from({ length: Math.min(latents.numClasses, 10) }, (_, i) => i);

  return runTraining({
    label: 'train-dit',
    runDir: config.out,
    startStep: resume?.meta.step ?? 0,
    totalSteps: config.train.steps,
    batchSize,
    maxMinutes: config.train.maxMinutes,
    checkpointEvery: config.checkpoint.every,
    plotEvery: config.log.plotEvery,
    sampleEvery: config.log.sampleEvery,
    metrics,
    lastCheckpoint: resume?.path,
    async step(step) {
      const warmup = config.optimizer.warmupSteps;
      for (const group of optimizer.paramGroups) group.lr = config.optimizer.lr * (warmup > 0 ? Math.min(1, step / warmup) : 1);
      model.train();
      // Sums over the micro-batches of each one's mean loss terms, divided by their number: detached 0-d tensors.
      let terms: Record<string, E.Tensor> = {};
      for (let k = 0; k < gradAccumulation; k++) {
        const sums: Record<string, E.Tensor> = E.scope(() => {
          const { x, y } = latentBatch(latents, order, micro, config.data.flipProb, norm);
          const losses = trainingLosses((xt, t, labels) => model.forward(xt, t, labels), x, y, config.transport);
          E.div(losses.loss, gradAccumulation).backward();
          const parts: Record<string, E.Tensor> = { loss: losses.loss, mse: E.mean(losses.mse), ...(losses.cos ? { cos: E.mean(losses.cos) } : {}) };
          return E.noGrad(() => Object.fromEntries(Object.entries(parts).map(([name, v]) => [name, E.add(terms[name] ?? 0, E.div(v.detach(), gradAccumulation))])));
        });
        Object.values(terms).forEach((t) => t.dispose());
        terms = sums;
      }
      const values = await readMetrics(terms);
      if (!Number.isFinite(values.loss)) {
        optimizer.zeroGrad();
        return values;
      }
      if (config.optimizer.maxGradNorm !== null) Object.assign(values, await readMetrics({ gradNorm: clipGradNorm(params, config.optimizer.maxGradNorm) }));
      optimizer.step();
      optimizer.zeroGrad();
      updateEma(ema, model, emaDecay(config.ema, step));
      values.lr = optimizer.paramGroups[0]!.lr;
      return values;
    },
    async saveCheckpoint(step) {
      const { state, tensors } = captureState(order, metrics, { adamw: optimizer });
      const all = new Map([...prefixed('model.', model.stateDict()), ...prefixed('ema.', ema.stateDict()), ...tensors]);
      return saveCheckpoint(config.out, { kind: 'train-dit', step, config, state: { ...state, modelConfig, latents: latentInfo } }, all, config.checkpoint.keep);
    },
    writeSamples: vae && (async (step) => {
      const painter = { model: ema, vae, latentShape: latents.latentShape, stats: latents, norm };
      const labels = gridLabels(gridClasses, config.sample.perClass);
      const rasters = await paint(painter, labels, config.sample, new Generator(config.seed + SAMPLE_STREAM));
      const path = join(config.out, 'samples', `step-${String(step).padStart(8, '0')}.png`);
      const side = rasters[0]!.width;
      await writePng(path, enlarge(grid(rasters, gridClasses.length), side < 64 ? 3 : 1));
      return path;
    }),
  });
}
