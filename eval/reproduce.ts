/**
 * The paper's central experiment at MNIST scale, one command: `npm run reproduce [-- --quick] [--backend B]`.
 *
 * Four arms share one budget: tokenizers of a low and a high latent width (f4d4 and f4d16 on 16×16 digits), each
 * trained with and without the VF loss (aligned with the bundled MNIST classifier, as train/configs/mnist-vavae.json
 * does); then a small LightningDiT trained on each tokenizer's latents for the same number of steps; then the
 * reconstruction, uniformity and generation metrics of each. Everything runs through the command line (`eval/cli.ts`)
 * with step counts rather than time budgets, so arms are comparable and a rerun repeats the numbers.
 *
 * Writes, under --out (default runs/reproduce): one folder per arm (vae/, latents/, dit/, the eval reports and a
 * t-SNE plot), results.json and table.md. The full run takes about an hour on a quiet 2-core machine (CPU
 * backend); --quick runs every stage at toy size in a few minutes.
 */
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { UsageError, parseArgs, flag, formatHelp, numberFlag, stringFlag } from '../train/cli/args.js';
import { readyConfig } from '../train/cli/common.js';
import { TrainError } from '../train/errors.js';
import { writeFileAtomic, writeJsonAtomic } from '../train/files.js';
import { main } from './cli.js';
import type { SampleEvaluation } from './cli/eval-samples.js';
import type { VaeEvaluation } from './cli/eval-vae.js';
import { type ArmResult, type ReproductionResults, type ReproductionSettings, renderTable, vfVerdicts } from './reproduce-report.js';
import { isEntryPoint } from '../train/cli/entry.js';

export interface Arm {
  name: string;
  width: number;
  vf: boolean;
}

/** The 2 × 2 design: a low and a high latent width, without and with the VF loss. */
export const ARMS: readonly Arm[] = [4, 16].flatMap((width) => [false, true].map((vf) => ({ name: `f4d${width}-${vf ? 'vf' : 'novf'}`, width, vf })));

/**
 * The budget of every arm. The full one was calibrated on the 2-core machine from the CPU time of short runs (CPU
 * time, because the machine was busy; on a quiet machine wall time is about the same): a VA-VAE step of batch 8
 * takes 1.25 s with the VF loss and 0.95 s without (either width), a LightningDiT step of batch 16 0.39 s, encoding
 * 3,000 digits 20 s, eval-vae 45 s and eval-samples 60 s. So an arm with the VF loss takes about 6¼ min of VA-VAE,
 * 6½ min of LightningDiT and 2 min of encoding and evaluation (15 min), one without about 13½ min: 56 min in all.
 */
export function settingsFor({ quick, backend, seed }: { quick: boolean; backend: string; seed: number }): ReproductionSettings {
  const shared = { quick, backend, seed, vaeBatchSize: 8, ditBatchSize: 16, cfgScale: 1 };
  if (quick) return { ...shared, vaeSteps: 6, encodeImages: 200, ditSteps: 6, evalImages: 100, tsnePoints: 60, samplesPerClass: 5, samplerSteps: 5, referenceImages: 100 };
  return { ...shared, vaeSteps: 300, encodeImages: 3000, ditSteps: 1000, evalImages: 1000, tsnePoints: 1000, samplesPerClass: 50, samplerSteps: 21, referenceImages: 1000 };
}

/** The command lines of one arm's stages, in order; `dir` is the arm's folder. */
export function armStages(arm: Arm, s: ReproductionSettings, dir: string): { stage: keyof ArmResult['seconds']; argv: string[] }[] {
  const common = ['--backend', s.backend, '--seed', String(s.seed)];
  const [vae, latents, dit] = ['vae', 'latents', 'dit'].map((f) => join(dir, f)) as [string, string, string];
  // No time budgets and no picture grids during training: every arm does the same steps and nothing else.
  const vfOff = arm.vf ? [] : ['--set', 'foundation=null', '--set', 'loss.vfWeight=0'];
  return [
    {
      stage: 'trainVae',
      argv: ['train-vae', ...common, '--config', readyConfig('mnist-vavae.json'), '--out', vae, '--steps', String(s.vaeSteps), '--batch-size', String(s.vaeBatchSize),
        '--set', 'train.maxMinutes=null', '--set', 'log.sampleEvery=null', '--set', `model.embedDim=${arm.width}`, '--set', `model.zChannels=${arm.width}`, ...vfOff],
    },
    { stage: 'encode', argv: ['encode', ...common, '--config', readyConfig('mnist-encode.json'), '--vae', vae, '--out', latents, '--limit', String(s.encodeImages)] },
    {
      stage: 'trainDit',
      argv: ['train-dit', ...common, '--config', readyConfig('mnist-dit.json'), '--latents', latents, '--vae', vae, '--out', dit, '--steps', String(s.ditSteps), '--batch-size', String(s.ditBatchSize),
        '--set', 'train.maxMinutes=null', '--set', 'log.sampleEvery=null'],
    },
    {
      stage: 'evalVae',
      argv: ['eval-vae', ...common, '--checkpoint', vae, '--count', String(s.evalImages), '--tsne-points', String(s.tsnePoints), '--scatter', join(dir, 'latents-tsne.png'), '--out', join(dir, 'eval-vae.json')],
    },
    {
      stage: 'evalSamples',
      argv: ['eval-samples', ...common, '--samples', dit, '--per-class', String(s.samplesPerClass), '--num-steps', String(s.samplerSteps), '--cfg-scale', String(s.cfgScale),
        '--reference-count', String(s.referenceImages), '--samples-out', join(dir, 'samples'), '--out', join(dir, 'eval-samples.json')],
    },
  ];
}

/** Trains and evaluates one arm from scratch (its folder is cleared first); returns its results. */
export async function runArm(arm: Arm, s: ReproductionSettings, dir: string, log: (message: string) => void = console.log): Promise<ArmResult> {
  await rm(dir, { recursive: true, force: true });
  const seconds = { trainVae: 0, encode: 0, trainDit: 0, evalVae: 0, evalSamples: 0, total: 0 };
  for (const { stage, argv } of armStages(arm, s, dir)) {
    log(`\n=== ${arm.name}: ${stage} — vavae-dit ${argv.join(' ')}`);
    const started = performance.now();
    const code = await main(argv);
    if (code !== 0) throw new TrainError(`arm ${arm.name}: ${argv[0]} failed (exit code ${code}); its folder ${dir} holds what it wrote`);
    seconds[stage] = (performance.now() - started) / 1000;
    seconds.total += seconds[stage];
    log(`=== ${arm.name}: ${stage} done in ${(seconds[stage] / 60).toFixed(1)} min`);
  }
  const read = async (file: string) => JSON.parse(await readFile(join(dir, file), 'utf8')) as unknown;
  return { ...arm, seed: s.seed, seconds, vae: (await read('eval-vae.json')) as VaeEvaluation, samples: (await read('eval-samples.json')) as SampleEvaluation };
}

/** All arms, then results.json and table.md in `out`. */
export async function reproduce(s: ReproductionSettings, out: string, log: (message: string) => void = console.log): Promise<ReproductionResults> {
  const startedAt = new Date().toISOString();
  const started = performance.now();
  const arms: ArmResult[] = [];
  for (const [k, arm] of ARMS.entries()) {
    log(`\n##### arm ${k + 1}/${ARMS.length}: ${arm.name} (latent width ${arm.width}, VF loss ${arm.vf ? 'on' : 'off'})`);
    arms.push(await runArm(arm, s, join(out, arm.name), log));
  }
  const results: ReproductionResults = { startedAt, settings: s, arms, verdicts: vfVerdicts(arms), seconds: (performance.now() - started) / 1000 };
  await writeJsonAtomic(join(out, 'results.json'), results);
  const table = renderTable(results);
  await writeFileAtomic(join(out, 'table.md'), table);
  log(`\n${table}`);
  log(`results: ${join(out, 'results.json')}; table: ${join(out, 'table.md')}`);
  return results;
}

const FLAGS = [
  { name: 'quick', help: 'every stage at toy size (a few minutes): checks the path, measures nothing' },
  { name: 'backend', value: 'cpu|webgpu|gpujs|auto', help: 'where to compute (default: cpu, faster than lavapipe on a 2-core machine)' },
  { name: 'seed', value: 'N', help: 'the seed of every stage of every arm (default 0)' },
  { name: 'out', value: 'DIR', help: 'where the arms, results.json and table.md go (default: runs/reproduce, runs/reproduce-quick with --quick)' },
  { name: 'help', help: 'show this help' },
];

async function cli(argv: readonly string[]): Promise<number> {
  try {
    const args = parseArgs(argv, FLAGS, 'reproduce');
    if (flag(args, 'help') !== undefined) {
      console.log(formatHelp('usage: npm run reproduce -- [options]', 'VA-VAE with and without the VF loss at two latent widths, LightningDiT on each, the paper-style table.', FLAGS));
      return 0;
    }
    const quick = flag(args, 'quick') !== undefined;
    const seed = numberFlag(args, 'seed', { integer: true }) ?? 0;
    if (seed < 0) throw new UsageError(`--seed needs a non-negative integer, got ${seed}`);
    const settings = settingsFor({ quick, backend: stringFlag(args, 'backend') ?? 'cpu', seed });
    await reproduce(settings, stringFlag(args, 'out') ?? (quick ? 'runs/reproduce-quick' : 'runs/reproduce'));
    return 0;
  } catch (e) {
    if (e instanceof TrainError) {
      console.error(`error: ${e.message}`);
      return e instanceof UsageError ? 2 : 1;
    }
    throw e;
  }
}

if (isEntryPoint(import.meta.url)) process.exitCode = await cli(process.argv.slice(2));
