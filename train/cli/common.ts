import { fileURLToPath } from 'node:url';
import type { z } from 'zod';
import { setAnomalyMode } from '../../engine/index.js';
import { parseBackendChoice, releaseBackend, selectBackend } from '../backend.js';
import { type CheckpointKind, readCheckpointMeta } from '../checkpoint.js';
import { type Override, applyOverrides, parseSet, readConfigFile, validate } from '../config/load.js';
import { UsageError, type FlagSpec, type ParsedArgs, flag, numberFlag, stringFlag } from './args.js';

export const COMMON_FLAGS: FlagSpec[] = [
  { name: 'config', value: 'FILE', help: 'JSON configuration (default: the small MNIST one in train/configs/)' },
  { name: 'set', value: 'KEY=VALUE', help: 'override one configuration key, e.g. --set optimizer.lr=1e-3 (repeatable)', repeatable: true },
  { name: 'backend', value: 'cpu|webgpu|gpujs|auto', help: 'where to compute (default: $ENGINE_BACKEND, else cpu)' },
  { name: 'seed', value: 'N', help: 'random seed (configuration key seed)' },
  { name: 'help', help: 'show this help' },
];

export const TRAINING_FLAGS: FlagSpec[] = [
  { name: 'out', value: 'DIR', help: 'run folder: checkpoints, metrics.jsonl, loss.png, samples/' },
  { name: 'steps', value: 'N', help: 'optimiser steps in total (train.steps)' },
  { name: 'batch-size', value: 'N', help: 'images per optimiser step (train.batchSize)' },
  { name: 'lr', value: 'X', help: 'learning rate (optimizer.lr)' },
  { name: 'max-minutes', value: 'M', help: 'stop with a checkpoint after M minutes (train.maxMinutes)' },
  { name: 'resume', value: 'RUN|CHECKPOINT', help: 'continue a run exactly (default: the latest checkpoint in the run folder)', optionalValue: true },
  { name: 'detect-anomaly', help: 'check every op for NaN/Inf and name the first one that makes it (slow)' },
];

/** The ready configuration shipped for a command. */
export function readyConfig(name: string): string {
  return fileURLToPath(new URL(`../configs/${name}`, import.meta.url));
}

/** Overrides from `--seed` and the command's own flags that map onto configuration keys. */
export function flagOverrides(args: ParsedArgs, mapping: Record<string, { path: string; integer?: boolean; text?: boolean; nullable?: boolean }>): Override[] {
  const out: Override[] = [];
  const seed = numberFlag(args, 'seed', { integer: true });
  if (seed !== undefined) out.push(['seed', seed]);
  for (const [name, { path, integer, text, nullable }] of Object.entries(mapping)) {
    if (text) {
      const v = stringFlag(args, name);
      if (v !== undefined) out.push([path, nullable && v === 'none' ? null : v]);
    } else {
      const v = numberFlag(args, name, { integer });
      if (v !== undefined) out.push([path, v]);
    }
  }
  return out;
}

export const TRAINING_FLAG_PATHS = {
  out: { path: 'out', text: true },
  steps: { path: 'train.steps', integer: true },
  'batch-size': { path: 'train.batchSize', integer: true },
  lr: { path: 'optimizer.lr' },
  'max-minutes': { path: 'train.maxMinutes' },
} as const;

export interface Resolved<T> {
  config: T;
  /** Where it came from, for messages. */
  source: string;
  /** The checkpoint (JSON file) to resume from. */
  resume?: string;
}

/**
 * The configuration of a run: the file (or the ready default), then `--set`, then flags; validated. With
 * `--resume` the base is the configuration saved in the checkpoint instead, and overrides are applied on top
 * (changed keys are reported, since they make the continuation differ from the original plan).
 */
export async function resolveConfig<S extends z.ZodType>(
  schema: S,
  args: ParsedArgs,
  defaultFile: string,
  extra: Override[],
  { kind, adjust = (raw) => raw, log = console.log }: { kind?: CheckpointKind; adjust?: (raw: Record<string, unknown>) => unknown; log?: (m: string) => void } = {},
): Promise<Resolved<z.infer<S>>> {
  const overrides = [...(args.values.get('set') ?? []).map((s) => parseSet(String(s))), ...extra];
  const resumeFlag = flag(args, 'resume');
  if (resumeFlag !== undefined && kind) {
    if (flag(args, 'config') !== undefined) throw new UsageError('--resume continues with the configuration saved in the checkpoint; leave out --config (use --set or flags to change keys)');
    let where = typeof resumeFlag === 'string' ? resumeFlag : undefined;
    if (!where) {
      const base = applyOverrides(await readConfigFile(defaultFile), overrides) as { out?: unknown };
      if (typeof base.out !== 'string') throw new UsageError(`--resume without a path needs 'out' in ${defaultFile}`);
      where = base.out;
    }
    const { path, meta } = await readCheckpointMeta(where, kind);
    const source = `${path} (resumed)${overrides.length ? ' + command-line overrides' : ''}`;
    const config = validate(schema, adjust(applyOverrides(meta.config, overrides) as Record<string, unknown>), source);
    for (const [key] of overrides) log(`note: --resume with ${key} set on the command line (the saved configuration is changed)`);
    return { config, source, resume: path };
  }
  const file = stringFlag(args, 'config') ?? defaultFile;
  const source = `${file}${overrides.length ? ' + command-line overrides' : ''}`;
  return { config: validate(schema, adjust(applyOverrides(await readConfigFile(file), overrides) as Record<string, unknown>), source), source };
}

/** Runs `body` on the selected backend, with anomaly mode when asked, and releases the device afterwards. */
export async function onBackend<T>(args: ParsedArgs, body: () => Promise<T>, log = console.log): Promise<T> {
  const selected = await selectBackend(parseBackendChoice(stringFlag(args, 'backend')));
  log(`backend: ${selected.reason}`);
  if (flag(args, 'detect-anomaly') === true) {
    setAnomalyMode(true);
    log('anomaly mode: every op is checked for NaN/Inf');
  }
  try {
    return await body();
  } finally {
    setAnomalyMode(false);
    await releaseBackend();
  }
}

export const DATA_FLAGS: FlagSpec[] = [
  { name: 'data', value: 'mnist|FOLDER', help: "'mnist', or an image folder (one subfolder per class)" },
  { name: 'limit', value: 'N', help: 'use only the first N images (data.limit)' },
  { name: 'skip-corrupt', help: 'skip images that cannot be decoded, with a warning (data.skipCorrupt)' },
];

/**
 * `--data`, `--limit` and `--skip-corrupt` applied to a raw configuration. A folder keeps the image size and
 * channels of the data section it replaces (so the model still fits).
 */
export function applyDataFlags(args: ParsedArgs, raw: Record<string, unknown>): Record<string, unknown> {
  const data = { ...((raw.data as Record<string, unknown> | undefined) ?? {}) };
  const source = stringFlag(args, 'data');
  let next: Record<string, unknown> = data;
  if (source === 'mnist') next = { source: 'mnist', imageSize: data.imageSize ?? 32, limit: data.limit ?? null };
  else if (source !== undefined) next = { source: 'folder', path: source, imageSize: data.imageSize, channels: data.source === 'mnist' ? 1 : (data.channels ?? 3), limit: data.limit ?? null };
  const limit = numberFlag(args, 'limit', { integer: true });
  if (limit !== undefined) next.limit = limit;
  if (flag(args, 'skip-corrupt') === true) next.skipCorrupt = true;
  return { ...raw, data: next };
}
