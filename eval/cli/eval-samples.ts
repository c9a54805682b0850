import { existsSync, readdirSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import * as E from '../../engine/index.js';
import { numberFlag, stringFlag } from '../../train/cli/args.js';
import { onBackend } from '../../train/cli/common.js';
import { checkpointFolder, readCheckpointMeta } from '../../train/checkpoint.js';
import type { Command } from '../../train/commands/command.js';
import { sampleImages } from '../../train/commands/sample.js';
import { validate } from '../../train/config/load.js';
import { type SamplerConfig, type TrainDitConfig, sampleSchema } from '../../train/config/schema.js';
import { decodeImage } from '../../train/data/decode.js';
import { openMnist } from '../../train/data/images.js';
import { toGrey, toPlanar } from '../../train/data/raster.js';
import { CheckpointError, DataError } from '../../train/errors.js';
import { writeJsonAtomic } from '../../train/files.js';
import { batchOf } from '../classifier/batch.js';
import { type SampleBatch, evaluateSamples, extractReference } from '../generation.js';
import { EVAL_FLAGS, type ReportRow, formatRows, loadMnistJudge, positiveFlag } from './shared.js';

/*
 * `eval-samples`: generation quality of class-conditional digits, seen through the MNIST judge (the paper's gFID,
 * IS, precision/recall, as the ADM evaluator computes them on saved PNGs), and how often the judge recognises the
 * class a sample was drawn for. The samples are PNG files (`sample` writes them as NNNNN-classK.png), or are first
 * drawn from a train-dit checkpoint; the references are MNIST test digits laid out as the samples are.
 */

/** How to draw samples when a train-dit checkpoint is given; unset keys keep the `sample` section of its config. */
export interface SamplingChoice {
  perClass: number;
  numSteps?: number;
  cfgScale?: number;
  /** Where the drawn PNGs go; null: <run>/eval-samples. */
  out: string | null;
}

export interface SampleEvaluationOptions {
  /** A folder of sample PNGs (or one holding them in images/), or a train-dit run folder or checkpoint. */
  samples: string;
  sampling: SamplingChoice;
  referenceCount: number;
  batchSize: number;
  seed: number;
}

export interface SampleEvaluation {
  kind: 'eval-samples';
  /** The folder the PNGs were read from. */
  samples: string;
  /** The train-dit checkpoint they were drawn from, when the command drew them; its sampler settings. */
  checkpoint: string | null;
  sampler: SamplerConfig | null;
  count: number;
  referenceCount: number;
  seed: number;
  /** Fréchet distance of the MNIST judge's features, samples against MNIST test digits. */
  gfid: number;
  inceptionScore: number;
  precision: number;
  recall: number;
  /** Share of samples the judge assigns to the class they were drawn for; null when file names carry no class. */
  classAccuracy: number | null;
  perClassAccuracy: number[] | null;
  seconds: number;
}

const SAMPLE_NAME = /-class(\d+)\.png$/;

/** The PNG files of a sample folder (or of its images/ subfolder), sorted. */
function samplePngs(folder: string): string[] {
  for (const dir of [join(folder, 'images'), folder]) {
    if (!existsSync(dir) || !statSync(dir).isDirectory()) continue;
    const pngs = readdirSync(dir).filter((f) => f.toLowerCase().endsWith('.png')).sort();
    if (pngs.length > 0) return pngs.map((f) => join(dir, f));
  }
  return [];
}

export async function evaluateSampleSet(options: SampleEvaluationOptions, log: (message: string) => void = console.log): Promise<SampleEvaluation> {
  const started = performance.now();
  // A run folder holds PNGs too (loss.png), so checkpoints are looked for first.
  const isFolder = existsSync(options.samples) && statSync(options.samples).isDirectory();
  let files = isFolder && !existsSync(checkpointFolder(options.samples)) ? samplePngs(options.samples) : [];
  let checkpoint: string | null = null;
  let sampler: SamplerConfig | null = null;
  if (files.length === 0) ({ files, checkpoint, sampler } = await drawSamples(options));
  const samples = await readSamples(files);
  log(`eval-samples: ${samples.count} ${samples.side}×${samples.side} samples from ${dirname(files[0]!)}; reference: ${options.referenceCount} MNIST test digits`);
  const judge = await loadMnistJudge();
  const mnist = await openMnist({ split: 'test', imageSize: samples.side, limit: options.referenceCount });
  const reference = await extractReference(judge, mnistBatches(mnist, options.batchSize));
  const report = await evaluateSamples({ samples: samples.batches(options.batchSize), reference, extractor: judge });
  return {
    kind: 'eval-samples',
    samples: dirname(files[0]!),
    checkpoint,
    sampler,
    count: report.count,
    referenceCount: report.referenceCount,
    seed: options.seed,
    gfid: report.fid,
    inceptionScore: report.inceptionScore!,
    precision: report.precision,
    recall: report.recall,
    classAccuracy: report.classAccuracy?.accuracy ?? null,
    perClassAccuracy: report.classAccuracy ? Array.from(report.classAccuracy.perClass) : null,
    seconds: (performance.now() - started) / 1000,
  };
}

/** Draws samples of every class from a train-dit checkpoint with `sample`'s code, as PNG files. */
async function drawSamples({ samples: where, sampling, batchSize, seed }: SampleEvaluationOptions): Promise<{ files: string[]; checkpoint: string; sampler: SamplerConfig }> {
  let found;
  try {
    found = await readCheckpointMeta(where, 'train-dit');
  } catch (e) {
    throw new CheckpointError(`${where} holds no sample PNGs, and is not a train-dit checkpoint either: ${(e as Error).message}`);
  }
  const dit = found.meta.config as TrainDitConfig;
  const sampler = { ...dit.sample, classes: null, perClass: sampling.perClass, batchSize, ...(sampling.numSteps === undefined ? {} : { numSteps: sampling.numSteps }), ...(sampling.cfgScale === undefined ? {} : { cfgScale: sampling.cfgScale }) };
  const out = sampling.out ?? join(dirname(dirname(found.path)), 'eval-samples');
  const config = validate(sampleSchema, { kind: 'sample', checkpoint: found.path, vae: null, weights: 'ema', out, seed, sampler }, `eval-samples sampling of ${found.path}`);
  const { images } = await sampleImages(config);
  return { files: images, checkpoint: found.path, sampler: config.sampler };
}

/** Sample PNGs as grey images in [−1, 1], with the class of each when every file name carries one. */
async function readSamples(files: readonly string[]) {
  const pixels: Float32Array[] = [];
  const labels: number[] = [];
  let side = 0;
  for (const file of files) {
    let image;
    try {
      image = toGrey(decodeImage(await readFile(file)));
    } catch (e) {
      throw new DataError(file, `cannot be read as an image: ${(e as Error).message}`);
    }
    side ||= image.width;
    if (image.width !== side || image.height !== side) throw new DataError(file, `is ${image.width}×${image.height}; the samples before it are ${side}×${side} (all must be square and of one size)`);
    pixels.push(toPlanar(image, false));
    const label = SAMPLE_NAME.exec(basename(file));
    if (label) labels.push(Number(label[1]));
  }
  const labelled = labels.length === files.length;
  return {
    count: files.length,
    side,
    *batches(batchSize: number): Generator<SampleBatch> {
      for (let start = 0; start < pixels.length; start += batchSize) {
        const part = pixels.slice(start, start + batchSize);
        const values = new Float32Array(part.length * side * side);
        part.forEach((p, k) => values.set(p, k * side * side));
        const images = E.fromArray(values, [part.length, 1, side, side]);
        yield { images, labels: labelled ? labels.slice(start, start + batchSize) : undefined };
        images.dispose();
      }
    },
  };
}

function* mnistBatches(dataset: Awaited<ReturnType<typeof openMnist>>, batchSize: number): Generator<E.Tensor> {
  for (let start = 0; start < dataset.size; start += batchSize) {
    const { images } = batchOf(dataset, Array.from({ length: Math.min(batchSize, dataset.size - start) }, (_, k) => start + k));
    yield images;
    images.dispose();
  }
}

export function sampleReportRows(report: SampleEvaluation): ReportRow[] {
  return [
    { metric: 'gFID (MNIST judge)', value: report.gfid, better: 'lower' },
    { metric: 'Inception Score', value: report.inceptionScore, better: 'higher' },
    { metric: 'precision', value: report.precision, better: 'higher' },
    { metric: 'recall', value: report.recall, better: 'higher' },
    { metric: 'class accuracy', value: report.classAccuracy, better: 'higher' },
  ];
}

export const evalSamplesCommand: Command = {
  name: 'eval-samples',
  summary: 'gFID, IS, precision/recall and class accuracy of sample PNGs or of a train-dit checkpoint (MNIST judge)',
  flags: [
    ...EVAL_FLAGS,
    { name: 'samples', value: 'DIR|RUN|CHECKPOINT', help: 'sample PNGs (as `sample` writes them), or a train-dit run to draw them from (default: runs/mnist/dit)' },
    { name: 'out', value: 'FILE', help: 'the JSON report (default: eval-samples.json in the sample folder or the run)' },
    { name: 'reference-count', value: 'N', help: 'MNIST test digits to compare with (default 1000)' },
    { name: 'batch-size', value: 'N', help: 'images per judge (and sampler) call (default 100)' },
    { name: 'per-class', value: 'N', help: 'with a checkpoint: samples drawn per class (default 100)' },
    { name: 'num-steps', value: 'N', help: "with a checkpoint: sampler grid points (default: the DiT config's)" },
    { name: 'cfg-scale', value: 'X', help: "with a checkpoint: guidance scale, ≤ 1 = none (default: the DiT config's)" },
    { name: 'samples-out', value: 'DIR', help: 'with a checkpoint: where the drawn PNGs go (default: <run>/eval-samples)' },
  ],
  details: 'Examples:\n  eval-samples --samples runs/mnist/samples\n  eval-samples --samples runs/mnist/dit --per-class 50 --cfg-scale 1',
  async run(args) {
    const options: SampleEvaluationOptions = {
      samples: stringFlag(args, 'samples') ?? 'runs/mnist/dit',
      sampling: {
        perClass: positiveFlag(args, 'per-class', 100),
        numSteps: numberFlag(args, 'num-steps', { integer: true }),
        cfgScale: numberFlag(args, 'cfg-scale'),
        out: stringFlag(args, 'samples-out') ?? null,
      },
      referenceCount: positiveFlag(args, 'reference-count', 1000),
      batchSize: positiveFlag(args, 'batch-size', 100),
      seed: numberFlag(args, 'seed', { integer: true }) ?? 0,
    };
    await onBackend(args, async () => {
      const report = await evaluateSampleSet(options);
      const out = stringFlag(args, 'out') ?? join(report.checkpoint ? dirname(dirname(report.checkpoint)) : options.samples, 'eval-samples.json');
      await writeJsonAtomic(out, report);
      console.log(formatRows(sampleReportRows(report)));
      console.log(`eval-samples: ${report.count} samples in ${report.seconds.toFixed(1)} s; report ${out}`);
    });
  },
};
