import { join } from 'node:path';
import { Generator } from '../../engine/index.js';
import type { LightningDiTConfig } from '../../models/lightningdit/index.js';
import { UsageError, numberFlag, stringFlag } from '../cli/args.js';
import { COMMON_FLAGS, flagOverrides, onBackend } from '../cli/common.js';
import { type Override, applyOverrides, parseSet, readConfigFile, validate } from '../config/load.js';
import { type SampleConfig, type TrainDitConfig, sampleSchema } from '../config/schema.js';
import { disposeAll, loadCheckpoint, loadInto, readCheckpointMeta, section } from '../checkpoint.js';
import type { DitLatentInfo } from '../loops/dit.js';
import { buildDit, loadAutoencoder } from '../models.js';
import { enlarge, grid, writePng } from '../report/images.js';
import { gridLabels, paint } from '../sampling.js';
import type { Command } from './command.js';

/** Samples from a train-dit checkpoint: a grid (one column per class) and every image on its own. */
export async function sampleImages(config: SampleConfig): Promise<{ grid: string; images: string[] }> {
  const checkpoint = await loadCheckpoint(config.checkpoint, 'train-dit');
  const state = checkpoint.meta.state as { modelConfig: LightningDiTConfig; latents: DitLatentInfo };
  const ditConfig = checkpoint.meta.config as TrainDitConfig;
  const model = buildDit(state.modelConfig);
  loadInto(model, section(checkpoint.tensors, `${config.weights}.`), checkpoint.path, config.weights === 'ema' ? 'EMA' : 'model');
  disposeAll(checkpoint.tensors);
  const vaePath = config.vae ?? ditConfig.vae ?? state.latents.vae;
  const { model: vae } = await loadAutoencoder(vaePath);

  const numClasses = state.modelConfig.numClasses;
  const bad = (config.sampler.classes ?? []).filter((c) => c >= numClasses);
  if (bad.length) throw new UsageError(`classes ${bad.join(', ')} do not exist: the model has ${numClasses} classes (0–${numClasses - 1})`);
  const classes = config.sampler.classes ?? Array.from({ length: numClasses }, (_, i) => i);
  const labels = gridLabels(classes, config.sampler.perClass);
  const painter = {
    model,
    vae,
    latentShape: state.latents.shape,
    stats: { mean: Float64Array.from(state.latents.mean), std: Float64Array.from(state.latents.std) },
    norm: { latentNorm: ditConfig.data.latentNorm, latentMultiplier: ditConfig.data.latentMultiplier },
  };
  const started = performance.now();
  const rasters = await paint(painter, labels, config.sampler, new Generator(config.seed));
  console.log(`sample: ${rasters.length} images in ${((performance.now() - started) / 1000).toFixed(1)} s (${config.sampler.method}, ${config.sampler.numSteps} grid points, cfg ${config.sampler.cfgScale})`);
  const images: string[] = [];
  for (const [k, raster] of rasters.entries()) {
    const path = join(config.out, 'images', `${String(k).padStart(5, '0')}-class${labels[k]}.png`);
    await writePng(path, raster);
    images.push(path);
  }
  const columns = classes.length <= 32 ? classes.length : Math.ceil(Math.sqrt(rasters.length));
  const gridPath = join(config.out, 'grid.png');
  await writePng(gridPath, enlarge(grid(rasters, columns), rasters[0]!.width < 64 ? 3 : 1));
  return { grid: gridPath, images };
}

export const sampleCommand: Command = {
  name: 'sample',
  summary: 'draw class-conditional images from a train-dit checkpoint, decoded by the autoencoder',
  flags: [
    ...COMMON_FLAGS,
    { name: 'checkpoint', value: 'RUN|CHECKPOINT', help: 'the train-dit run folder or checkpoint (default: runs/mnist/dit)' },
    { name: 'vae', value: 'RUN|CHECKPOINT', help: "the autoencoder (default: the one in the DiT's configuration)" },
    { name: 'out', value: 'DIR', help: 'where grid.png and images/ go (default: <run>/samples-final)' },
    { name: 'weights', value: 'ema|model', help: 'EMA weights (default) or the raw model' },
    { name: 'method', value: 'NAME', help: 'euler, midpoint, heun2, heun3, rk4 or dopri5 (sampler.method)' },
    { name: 'num-steps', value: 'N', help: 'time-grid points; N − 1 solver steps (sampler.numSteps)' },
    { name: 'shift', value: 'S', help: 'timestep shift of the grid, 0 = none (sampler.shift)' },
    { name: 'cfg-scale', value: 'X', help: 'classifier-free guidance scale, ≤ 1 = none (sampler.cfgScale)' },
    { name: 'cfg-interval-start', value: 'T|none', help: 'guide only where t ≥ T (sampler.cfgIntervalStart)' },
    { name: 'guided-channels', value: 'N|all', help: 'leading latent channels that are guided (sampler.guidedChannels)' },
    { name: 'classes', value: 'A,B,...', help: 'classes to draw (default: all)' },
    { name: 'per-class', value: 'N', help: 'images per class (sampler.perClass)' },
    { name: 'batch-size', value: 'N', help: 'images per sampler call (sampler.batchSize)' },
  ],
  details: 'The sampler settings default to the `sample` section of the DiT\'s configuration.\nExample:\n  sample --checkpoint runs/mnist/dit --method heun2 --num-steps 30 --cfg-scale 3',
  async run(args) {
    const file = stringFlag(args, 'config');
    const fromFile = file ? ((await readConfigFile(file)) as Record<string, unknown>) : {};
    const where = stringFlag(args, 'checkpoint') ?? (typeof fromFile.checkpoint === 'string' ? fromFile.checkpoint : 'runs/mnist/dit');
    const { meta } = await readCheckpointMeta(where, 'train-dit');
    const dit = meta.config as TrainDitConfig;
    const base = { kind: 'sample', checkpoint: where, vae: null, weights: 'ema', out: join(dit.out, 'samples-final'), seed: dit.seed, sampler: dit.sample, ...fromFile };
    const overrides: Override[] = [
      ...(args.values.get('set') ?? []).map((s) => parseSet(String(s))),
      ...flagOverrides(args, {
        vae: { path: 'vae', text: true, nullable: true },
        out: { path: 'out', text: true },
        weights: { path: 'weights', text: true },
        method: { path: 'sampler.method', text: true },
        'num-steps': { path: 'sampler.numSteps', integer: true },
        shift: { path: 'sampler.shift' },
        'cfg-scale': { path: 'sampler.cfgScale' },
        'per-class': { path: 'sampler.perClass', integer: true },
        'batch-size': { path: 'sampler.batchSize', integer: true },
      }),
    ];
    const interval = stringFlag(args, 'cfg-interval-start');
    if (interval !== undefined) overrides.push(['sampler.cfgIntervalStart', interval === 'none' ? null : numberFlag(args, 'cfg-interval-start')]);
    const guided = stringFlag(args, 'guided-channels');
    if (guided !== undefined) overrides.push(['sampler.guidedChannels', guided === 'all' ? 'all' : numberFlag(args, 'guided-channels', { integer: true })]);
    const classes = stringFlag(args, 'classes');
    if (classes !== undefined) overrides.push(['sampler.classes', classes.split(',').map((c) => Number(c.trim()))]);
    const config = validate(sampleSchema, applyOverrides(base, overrides), `${file ?? `${where} (its sample section)`}${overrides.length ? ' + command-line overrides' : ''}`);
    await onBackend(args, async () => {
      const { grid: gridPath, images } = await sampleImages(config);
      console.log(`${images.length} images in ${join(config.out, 'images')}`);
      console.log(`grid: ${gridPath}`);
    });
  },
};
