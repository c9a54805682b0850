import { join } from 'node:path';
import * as E from '../../engine/index.js';
import { AnomalyError, type Tensor } from '../../engine/index.js';
import { isAnomalyMode } from '../../engine/autograd/mode.js';
import { NonFiniteLossError } from '../errors.js';
import type { MetricsLog } from '../report/metrics.js';
import { Progress, formatDuration } from '../report/progress.js';

/**
 * The loop shared by both training commands: steps, metrics, progress, the loss curve, picture grids,
 * checkpoints every N steps, at the end, on Ctrl-C and when a time budget runs out, and a stop at the first
 * non-finite loss (without saving, so the last checkpoint on disk stays the last good one).
 */
export interface TrainingRun {
  label: string;
  runDir: string;
  /** Steps already done (0, or the resumed checkpoint's step). */
  startStep: number;
  totalSteps: number;
  batchSize: number;
  maxMinutes: number | null;
  checkpointEvery: number;
  plotEvery: number;
  sampleEvery: number | null;
  metrics: MetricsLog;
  /** The checkpoint that the run resumed from, if any. */
  lastCheckpoint?: string;
  /** One optimiser step; returns its metrics, `loss` among them. A non-finite loss must leave the weights alone. */
  step(step: number): Promise<Record<string, number>>;
  saveCheckpoint(step: number): Promise<string>;
  /** Writes a picture grid; returns its path. */
  writeSamples?(step: number): Promise<string>;
}

export type StopReason = 'finished' | 'interrupted' | 'time budget';

export interface RunResult {
  step: number;
  reason: StopReason;
  checkpoint: string | undefined;
}

/**
 * The values of named 0-d tensors, read back together (one wait on an asynchronous device), and the tensors
 * freed.
 */
export async function readMetrics(named: Record<string, Tensor | undefined>): Promise<Record<string, number>> {
  const entries = Object.entries(named).filter((e): e is [string, Tensor] => e[1] !== undefined);
  const stacked = E.stack(entries.map(([, t]) => E.reshape(E.cast(t, 'float32'), [])));
  const values = await stacked.toArray();
  stacked.dispose();
  entries.forEach(([, t]) => t.dispose());
  return Object.fromEntries(entries.map(([k], i) => [k, values[i]!]));
}

/** Lets pending signals and I/O run between two (synchronous, long) training steps. */
const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

export async function runTraining(run: TrainingRun): Promise<RunResult> {
  const progress = new Progress({ label: run.label, startStep: run.startStep, totalSteps: run.totalSteps, batchSize: run.batchSize, logEvery: run.metrics.every });
  const started = performance.now();
  let interrupted = false;
  const onSigint = () => {
    if (interrupted) {
      progress.note('second Ctrl-C: stopping now, without a checkpoint');
      process.exit(130);
    }
    interrupted = true;
    progress.note('Ctrl-C: finishing this step and writing a checkpoint (Ctrl-C again to quit at once)');
  };
  process.on('SIGINT', onSigint);

  let checkpoint = run.lastCheckpoint;
  let savedAt = run.startStep;
  const save = async (step: number) => {
    checkpoint = await run.saveCheckpoint(step);
    savedAt = step;
    progress.note(`checkpoint: ${checkpoint}`);
  };
  const plot = () => run.metrics.plot(join(run.runDir, 'loss.png'), `${run.label} loss`);

  let step = run.startStep;
  let reason: StopReason = 'finished';
  try {
    if (run.startStep > 0) progress.note(`resuming from step ${run.startStep} (${run.lastCheckpoint})`);
    while (step < run.totalSteps) {
      step++;
      let metrics: Record<string, number>;
      try {
        metrics = await run.step(step);
      } catch (e) {
        if (e instanceof AnomalyError) throw new NonFiniteLossError(step, e.message, checkpoint, true);
        throw e;
      }
      if (!Number.isFinite(metrics.loss)) throw new NonFiniteLossError(step, `the loss is ${metrics.loss}`, checkpoint, isAnomalyMode());
      const elapsed = (performance.now() - started) / 1000;
      run.metrics.add(step, metrics, { seconds: elapsed });
      progress.update(step, metrics);
      if (step % run.checkpointEvery === 0) await save(step);
      if (step % run.plotEvery === 0) await plot();
      if (run.writeSamples && run.sampleEvery && step % run.sampleEvery === 0) progress.note(`samples: ${await run.writeSamples(step)}`);
      await yieldToEventLoop();
      if (interrupted) {
        reason = 'interrupted';
        break;
      }
      if (run.maxMinutes !== null && elapsed >= run.maxMinutes * 60 && step < run.totalSteps) {
        progress.note(`time budget of ${run.maxMinutes} min reached after ${formatDuration(elapsed)} (step ${step} of ${run.totalSteps})`);
        reason = 'time budget';
        break;
      }
    }
    progress.done();
    if (savedAt !== step) await save(step);
    await plot();
    if (reason !== 'interrupted' && run.writeSamples && run.sampleEvery && step % run.sampleEvery !== 0) progress.note(`samples: ${await run.writeSamples(step)}`);
  } finally {
    process.off('SIGINT', onSigint);
    progress.done();
  }
  return { step, reason, checkpoint };
}
