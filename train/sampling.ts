import * as E from '../engine/index.js';
import type { Generator, Tensor } from '../engine/index.js';
import type { LightningDiT } from '../models/lightningdit/index.js';
import { generate } from '../models/transport/index.js';
import type { AutoencoderKL } from '../models/vavae/index.js';
import type { SamplerConfig } from './config/schema.js';
import type { LatentNormalisation } from './data/batches.js';
import type { Raster } from './data/raster.js';
import { toRasters } from './report/images.js';

/**
 * Class-conditional pictures: noise → LightningDiT's probability-flow ODE (any solver, CFG with its interval and
 * guided channels, the timestep shift) → undo the latent standardisation → the autoencoder's decoder → 8-bit
 * images, as the official inference does.
 */
export interface Painter {
  model: LightningDiT;
  vae: AutoencoderKL;
  latentShape: readonly number[];
  stats: { mean: Float64Array; std: Float64Array };
  norm: LatentNormalisation;
}

/** The labels of a grid: each of `classes`, `perClass` times, class by class. */
export function gridLabels(classes: readonly number[], perClass: number): number[] {
  return Array.from({ length: perClass }, () => classes).flat();
}

/** z·std/multiplier + mean per channel (official `inference.py`), or z/multiplier without standardisation. */
function denormalise(samples: Tensor, painter: Painter): Tensor {
  const c = painter.latentShape[0]!;
  const { latentNorm, latentMultiplier } = painter.norm;
  const std = E.fromArray(Float32Array.from(painter.stats.std, (s) => (latentNorm ? s : 1) / latentMultiplier), [1, c, 1, 1]);
  const mean = E.fromArray(Float32Array.from(painter.stats.mean, (m) => (latentNorm ? m : 0)), [1, c, 1, 1]);
  return E.add(E.mul(samples, std), mean);
}

/** Images for `labels`, drawn `sampler.batchSize` at a time with noise from `generator`. */
export async function paint(painter: Painter, labels: readonly number[], sampler: SamplerConfig, generator: Generator): Promise<Raster[]> {
  const out: Raster[] = [];
  painter.model.eval();
  for (let start = 0; start < labels.length; start += sampler.batchSize) {
    const batch = labels.slice(start, start + sampler.batchSize);
    const images = E.scope(() =>
      E.noGrad(() => {
        const z = E.randn([batch.length, ...painter.latentShape], { generator });
        const y = E.fromArray(Int32Array.from(batch), [batch.length], { dtype: 'int32' });
        const { samples } = generate(painter.model, z, y, {
          method: sampler.method,
          numSteps: sampler.numSteps,
          shift: sampler.shift,
          atol: sampler.atol,
          rtol: sampler.rtol,
          cfgScale: sampler.cfgScale,
          intervalStart: sampler.cfgIntervalStart ?? undefined,
          guidedChannels: sampler.guidedChannels,
        });
        return painter.vae.decode(denormalise(samples, painter));
      }),
    );
    out.push(...(await toRasters(images)));
    images.dispose();
  }
  return out;
}
