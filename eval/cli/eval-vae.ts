import { dirname, join } from 'node:path';
import * as E from '../../engine/index.js';
import type { AutoencoderKL } from '../../models/vavae/index.js';
import { UsageError, numberFlag, stringFlag } from '../../train/cli/args.js';
import { onBackend } from '../../train/cli/common.js';
import type { Command } from '../../train/commands/command.js';
import { validate } from '../../train/config/load.js';
import { type ImageDataConfig, type TrainVaeConfig, imageDataSchema } from '../../train/config/schema.js';
import type { ImageDataset } from '../../train/data/images.js';
import { openImageDataset } from '../../train/data/open.js';
import { TrainError } from '../../train/errors.js';
import { writeFileAtomic, writeJsonAtomic } from '../../train/files.js';
import { loadAutoencoder } from '../../train/models.js';
import { batchOf } from '../classifier/batch.js';
import { encodePng } from '../png.js';
import { evaluateReconstruction } from '../reconstruction.js';
import { type LatentSource, type UniformityMetrics, latentUniformity, sampleLatentVectors } from '../uniformity.js';
import { EVAL_FLAGS, type ReportRow, formatRows, loadMnistJudge, positiveFlag } from './shared.js';

/*
 * `eval-vae`: how well a trained tokenizer reconstructs held-out images (rFID through the MNIST judge, PSNR, SSIM,
 * as LightningDiT's evaluate_tokenizer.py) and how evenly its latent space is used (density CV, Gini coefficient,
 * normalised entropy of the t-SNE embedding, as tools/latent_vis.py): the columns of the paper's Tables 2 and 6.
 */

/** latent_vis.py's t-SNE perplexity (scikit-learn's default), which needs more points than itself. */
const TSNE_PERPLEXITY = 30;

export interface VaeEvaluationOptions {
  /** A train-vae run folder or checkpoint. */
  checkpoint: string;
  /** 'mnist' (its test split) or an image folder; null: the autoencoder's own data, held out. */
  data: string | null;
  count: number;
  batchSize: number;
  /** Latent vectors embedded by t-SNE for the uniformity statistics; 0 skips them. */
  tsnePoints: number;
  seed: number;
  /** Where to draw the density-coloured t-SNE embedding (PNG), if anywhere. */
  scatter: string | null;
}

export interface VaeEvaluation {
  kind: 'eval-vae';
  checkpoint: string;
  step: number;
  data: string;
  count: number;
  seed: number;
  /** Fréchet distance of the MNIST judge's features, originals against reconstructions; null for colour images. */
  rfid: number | null;
  psnr: number;
  ssim: number;
  uniformity: (UniformityMetrics & { points: number }) | null;
  scatter: string | null;
  seconds: number;
}

/** The images to evaluate on, at the autoencoder's size: MNIST's test split (held out), or a folder (its own by default). */
function heldOutData(trained: TrainVaeConfig, source: string | null, count: number): ImageDataConfig {
  if (source === null) return trained.data.source === 'mnist' ? { ...trained.data, split: 'test', limit: count } : { ...trained.data, limit: count };
  const { resolution: imageSize, inChannels: channels } = trained.model;
  const data = source === 'mnist' ? { source, split: 'test', imageSize, limit: count } : { source: 'folder', path: source, imageSize, channels, limit: count };
  return validate(imageDataSchema, data, `--data ${source}`);
}

export async function evaluateVae(options: VaeEvaluationOptions, log: (message: string) => void = console.log): Promise<VaeEvaluation> {
  const started = performance.now();
  const { model: vae, checkpoint } = await loadAutoencoder(options.checkpoint);
  const trained = checkpoint.meta.config as TrainVaeConfig;
  const dataset = await openImageDataset(heldOutData(trained, options.data, options.count));
  const { inChannels, resolution } = vae.config;
  if (dataset.channels !== inChannels || dataset.imageSize !== resolution) {
    throw new TrainError(`the data are ${dataset.channels}-channel ${dataset.imageSize}×${dataset.imageSize} images but the autoencoder of ${checkpoint.path} takes ${inChannels}-channel ${resolution}×${resolution} images`);
  }
  const count = Math.min(options.count, dataset.size);
  log(`eval-vae: ${checkpoint.path} (step ${checkpoint.meta.step}) on ${count} images of ${dataset.description}`);

  // rFID looks through the MNIST judge, which reads grey digits only.
  const judge = dataset.channels === 1 ? await loadMnistJudge() : undefined;
  if (!judge) log('eval-vae: no rFID: the MNIST judge reads grey images only');
  const generator = new E.Generator(options.seed);
  const reconstruction = await evaluateReconstruction({
    images: imageBatches(dataset, count, options.batchSize),
    reconstruct: (x) => vae.decode(vae.encode(x).sample(undefined, { generator })),
    extractor: judge,
  });

  let uniformity: VaeEvaluation['uniformity'] = null;
  if (options.tsnePoints > 0) {
    const points = Math.min(options.tsnePoints, count);
    const source = await encodeLatents(vae, dataset, points, options.batchSize, generator);
    log(`eval-vae: t-SNE of ${points} latent vectors of ${source.latentShape[0]} channels`);
    const result = latentUniformity(sampleLatentVectors(source, points, generator), points, source.latentShape[0]!, { perplexity: TSNE_PERPLEXITY });
    uniformity = { points, ...result.metrics };
    if (options.scatter) await writeFileAtomic(options.scatter, encodePng(result.plot));
  }
  return {
    kind: 'eval-vae',
    checkpoint: checkpoint.path,
    step: checkpoint.meta.step,
    data: dataset.description,
    count: reconstruction.count,
    seed: options.seed,
    rfid: reconstruction.rfid ?? null,
    psnr: reconstruction.psnr,
    ssim: reconstruction.ssim,
    uniformity,
    scatter: uniformity && options.scatter,
    seconds: (performance.now() - started) / 1000,
  };
}

function* imageBatches(dataset: ImageDataset, count: number, batchSize: number): Generator<E.Tensor> {
  for (let start = 0; start < count; start += batchSize) {
    const indices = Array.from({ length: Math.min(batchSize, count - start) }, (_, k) => start + k);
    const { images } = batchOf(dataset, indices);
    yield images;
    images.dispose();
  }
}

/**
 * The first `count` images encoded as the official extraction does (a posterior sample of each image and of its
 * mirror image), held in memory with their per-channel mean and unbiased std over the unmirrored latents, as
 * `encode` writes them; latent_vis.py then draws from them.
 */
async function encodeLatents(vae: AutoencoderKL, dataset: ImageDataset, count: number, batchSize: number, generator: E.Generator): Promise<LatentSource> {
  const plain: Float32Array[] = [];
  const mirrored: Float32Array[] = [];
  const plane = dataset.channels * dataset.imageSize * dataset.imageSize;
  let shape: number[] = [];
  for (let start = 0; start < count; start += batchSize) {
    const end = Math.min(start + batchSize, count);
    for (const [flip, into] of [[false, plain], [true, mirrored]] as const) {
      const pixels = new Float32Array((end - start) * plane);
      for (let i = start; i < end; i++) pixels.set(dataset.read(i, flip)!.pixels, (i - start) * plane);
      const z = E.scope(() => E.noGrad(() => vae.encode(E.fromArray(pixels, [end - start, dataset.channels, dataset.imageSize, dataset.imageSize])).sample(undefined, { generator })));
      shape = z.shape.slice(1);
      const values = (await z.toArray()) as Float32Array;
      z.dispose();
      const per = values.length / (end - start);
      for (let k = 0; k < end - start; k++) into.push(values.slice(k * per, (k + 1) * per));
    }
  }
  const [c, h, w] = shape as [number, number, number];
  const mean = new Float64Array(c);
  const std = new Float64Array(c);
  for (let ch = 0; ch < c; ch++) {
    const values = plain.flatMap((latent) => Array.from(latent.subarray(ch * h * w, (ch + 1) * h * w)));
    mean[ch] = values.reduce((a, b) => a + b, 0) / values.length;
    std[ch] = Math.sqrt(values.reduce((s, v) => s + (v - mean[ch]!) ** 2, 0) / (values.length - 1));
  }
  return { count, latentShape: shape, flip: true, mean, std, read: (index, flip) => ({ latent: (flip ? mirrored : plain)[index]!, label: 0 }) };
}

export function vaeReportRows(report: VaeEvaluation): ReportRow[] {
  return [
    { metric: 'rFID (MNIST judge)', value: report.rfid, better: 'lower' },
    { metric: 'PSNR (dB)', value: report.psnr, better: 'higher' },
    { metric: 'SSIM', value: report.ssim, better: 'higher' },
    { metric: 'density CV', value: report.uniformity?.densityCv ?? null, better: 'lower' },
    { metric: 'Gini coefficient', value: report.uniformity?.giniCoefficient ?? null, better: 'lower' },
    { metric: 'normalised entropy', value: report.uniformity?.normalizedEntropy ?? null, better: 'higher' },
  ];
}

export const evalVaeCommand: Command = {
  name: 'eval-vae',
  summary: 'reconstruction (rFID, PSNR, SSIM) and latent uniformity (density CV, Gini, entropy) of a train-vae checkpoint',
  flags: [
    ...EVAL_FLAGS,
    { name: 'checkpoint', value: 'RUN|CHECKPOINT', help: 'the train-vae run folder or checkpoint (default: runs/mnist/vae)' },
    { name: 'out', value: 'FILE', help: 'the JSON report (default: <run>/eval-vae.json)' },
    { name: 'data', value: 'mnist|FOLDER', help: "held-out images (default: the autoencoder's data; for MNIST its test split)" },
    { name: 'count', value: 'N', help: 'images to reconstruct (default 1000)' },
    { name: 'batch-size', value: 'N', help: 'images per autoencoder call (default 100)' },
    { name: 'tsne-points', value: 'N', help: 'latent vectors for the uniformity statistics, exact t-SNE, O(N²) (default 1000, at most --count; 0: none)' },
    { name: 'scatter', value: 'FILE', help: 'also draw the t-SNE embedding coloured by density as a PNG' },
  ],
  details: 'Example:\n  eval-vae --checkpoint runs/mnist/vae --count 2000 --scatter runs/mnist/vae/latents-tsne.png',
  async run(args) {
    const options: VaeEvaluationOptions = {
      checkpoint: stringFlag(args, 'checkpoint') ?? 'runs/mnist/vae',
      data: stringFlag(args, 'data') ?? null,
      count: positiveFlag(args, 'count', 1000),
      batchSize: positiveFlag(args, 'batch-size', 100),
      tsnePoints: numberFlag(args, 'tsne-points', { integer: true }) ?? 1000,
      seed: numberFlag(args, 'seed', { integer: true }) ?? 0,
      scatter: stringFlag(args, 'scatter') ?? null,
    };
    if (options.tsnePoints !== 0 && options.tsnePoints <= TSNE_PERPLEXITY) throw new UsageError(`--tsne-points needs 0 (none) or more points than the t-SNE perplexity ${TSNE_PERPLEXITY}, got ${options.tsnePoints}`);
    await onBackend(args, async () => {
      const report = await evaluateVae(options);
      const out = stringFlag(args, 'out') ?? join(dirname(dirname(report.checkpoint)), 'eval-vae.json');
      await writeJsonAtomic(out, report);
      console.log(formatRows(vaeReportRows(report)));
      console.log(`eval-vae: ${report.count} images in ${report.seconds.toFixed(1)} s; report ${out}${report.scatter ? `; t-SNE plot ${report.scatter}` : ''}`);
    });
  },
};
