import { type Tensor, interpolateBilinear } from '../../engine/index.js';
import { CLASSIFIER_SIDE } from '../../models/foundation/index.js';
import { type FlagSpec, type ParsedArgs, UsageError, numberFlag } from '../../train/cli/args.js';
import { loadMnistClassifier, mnistClassifierExtractor } from '../classifier/model.js';
import type { FeatureExtractor } from '../features.js';

/*
 * What the evaluation commands share: their common flags, the MNIST judge for images of any side, the printed
 * table.
 */

export const EVAL_FLAGS: FlagSpec[] = [
  { name: 'backend', value: 'cpu|webgpu|gpujs|auto', help: 'where to compute (default: $ENGINE_BACKEND, else cpu)' },
  { name: 'seed', value: 'N', help: 'seed of every random draw of the evaluation (default 0)' },
  { name: 'help', help: 'show this help' },
];

/** A flag's positive integer value, or `fallback` when it is not given. */
export function positiveFlag(args: ParsedArgs, name: string, fallback: number): number {
  const value = numberFlag(args, name, { integer: true }) ?? fallback;
  if (value < 1) throw new UsageError(`--${name} needs a positive integer, got ${value}`);
  return value;
}

/** Sides the classifier reads as they are: its own 32×32, and raw 28×28 digits (which it pads). */
const NATIVE_SIDES = new Set([CLASSIFIER_SIDE, 28]);

/**
 * The bundled MNIST classifier as the feature extractor of rFID, gFID, IS, precision/recall and class accuracy.
 * Smaller digits (the 16×16 ones of the MNIST recipes) are first resized bilinearly to 32×32, as the VF loss's
 * foundation encoder resizes them, so that the judge sees the layout it was trained on.
 */
export async function loadMnistJudge(): Promise<FeatureExtractor> {
  const judge = mnistClassifierExtractor(await loadMnistClassifier());
  return {
    ...judge,
    extract(images: Tensor) {
      const side = images.shape[2]!;
      return judge.extract(NATIVE_SIDES.has(side) ? images : interpolateBilinear(images, [CLASSIFIER_SIDE, CLASSIFIER_SIDE]));
    },
  };
}

/** One line of a printed report: the metric, its value, and which way is better. */
export interface ReportRow {
  metric: string;
  value: number | null;
  better?: 'lower' | 'higher';
}

export function formatValue(value: number | null): string {
  if (value === null) return '—';
  if (Number.isInteger(value)) return String(value);
  return Math.abs(value) >= 100 ? value.toFixed(1) : value.toPrecision(4);
}

/** A two-column table, aligned, with ↓/↑ after metrics where lower/higher is better. */
export function formatRows(rows: readonly ReportRow[]): string {
  const names = rows.map((r) => `${r.metric}${r.better === 'lower' ? ' ↓' : r.better === 'higher' ? ' ↑' : ''}`);
  const width = Math.max(...names.map((n) => n.length)) + 2;
  return rows.map((r, i) => `  ${names[i]!.padEnd(width)}${formatValue(r.value)}`).join('\n');
}
