import { existsSync, readdirSync, statSync } from 'node:fs';
import { mkdir, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { type Tensor, loadSafetensors, saveSafetensors } from '../engine/index.js';
import type { Module } from '../nn/index.js';
import { CheckpointError } from './errors.js';
import { readJson, writeJsonAtomic } from './files.js';

/*
 * A checkpoint is two files in <run>/checkpoints/: `step-NNNNNNNN.safetensors` with every tensor (model weights,
 * EMA weights, optimiser moments, each under a prefix such as `model.` or `optimizer.`) and `step-NNNNNNNN.json`
 * with the rest: the step, the full configuration, and the training state that is not a tensor (random-number
 * generator positions, the data order, optimiser hyper-parameters and step counts). Both are written atomically,
 * tensors first; the JSON file, written last, is what makes a checkpoint exist, so a crash in between leaves
 * the previous checkpoint as the latest.
 */

export type CheckpointKind = 'train-vae' | 'train-dit';

export interface CheckpointMeta {
  format: 1;
  kind: CheckpointKind;
  step: number;
  config: unknown;
  state: Record<string, unknown>;
  /** The tensor file, beside this one. */
  tensors: string;
  savedAt: string;
}

export interface Checkpoint {
  /** The JSON file. */
  path: string;
  meta: CheckpointMeta;
  tensors: Map<string, Tensor>;
}

const NAME = /^step-(\d+)\.json$/;

export function checkpointFolder(runDir: string): string {
  return join(runDir, 'checkpoints');
}

/** Checkpoint JSON files of a run folder, oldest first. */
export function listCheckpoints(runDir: string): string[] {
  const dir = checkpointFolder(runDir);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => NAME.test(f))
    .sort()
    .map((f) => join(dir, f));
}

export async function saveCheckpoint(runDir: string, meta: Omit<CheckpointMeta, 'format' | 'tensors' | 'savedAt'>, tensors: Map<string, Tensor>, keep: number): Promise<string> {
  const dir = checkpointFolder(runDir);
  const name = `step-${String(meta.step).padStart(8, '0')}`;
  await mkdir(dir, { recursive: true });
  await saveSafetensors(join(dir, `${name}.safetensors`), tensors);
  const path = join(dir, `${name}.json`);
  await writeJsonAtomic(path, { format: 1, ...meta, tensors: `${name}.safetensors`, savedAt: new Date().toISOString() } satisfies CheckpointMeta);
  for (const old of listCheckpoints(runDir).slice(0, -keep)) {
    await unlink(old);
    await unlink(old.replace(/\.json$/, '.safetensors')).catch(() => undefined);
  }
  return path;
}

/**
 * The checkpoint JSON that `where` names: a checkpoint's .json or .safetensors file, a run folder (its latest
 * checkpoint) or a run's checkpoints/ folder.
 */
export function resolveCheckpoint(where: string): string {
  if (!existsSync(where)) throw new CheckpointError(`no checkpoint at ${where}: no such file or folder`);
  if (statSync(where).isDirectory()) {
    const runDir = basename(where) === 'checkpoints' ? dirname(where) : where;
    const latest = listCheckpoints(runDir).at(-1);
    if (!latest) throw new CheckpointError(`no checkpoint in ${where} (expected ${join(checkpointFolder(runDir), 'step-NNNNNNNN.json')})`);
    return latest;
  }
  if (where.endsWith('.safetensors')) return where.replace(/\.safetensors$/, '.json');
  return where;
}

function checkMeta(path: string, value: unknown): CheckpointMeta {
  const m = value as Partial<CheckpointMeta> | null;
  if (m === null || typeof m !== 'object' || m.format !== 1 || (m.kind !== 'train-vae' && m.kind !== 'train-dit') || !Number.isInteger(m.step) || typeof m.tensors !== 'string' || typeof m.state !== 'object') {
    throw new CheckpointError(`${path} is not a checkpoint written by this program (format 1 with kind, step, config, state and tensors)`);
  }
  return m as CheckpointMeta;
}

/** A checkpoint's JSON part alone; `kind` checks that it is of the expected training command. */
export async function readCheckpointMeta(where: string, kind?: CheckpointKind): Promise<{ path: string; meta: CheckpointMeta }> {
  const path = resolveCheckpoint(where);
  const meta = checkMeta(path, await readJson(path, 'checkpoint', (m) => new CheckpointError(m)));
  if (kind && meta.kind !== kind) throw new CheckpointError(`${path} is a ${meta.kind} checkpoint; a ${kind} checkpoint is needed here`);
  return { path, meta };
}

/** Loads a checkpoint, tensors included, on the current backend. */
export async function loadCheckpoint(where: string, kind?: CheckpointKind): Promise<Checkpoint> {
  const { path, meta } = await readCheckpointMeta(where, kind);
  const file = join(dirname(path), meta.tensors);
  if (!existsSync(file)) throw new CheckpointError(`${path} names the tensor file ${file}, which is missing`);
  const { tensors } = await loadSafetensors(file);
  return { path, meta, tensors };
}

/** The tensors under `prefix` (prefix removed). */
export function section(tensors: ReadonlyMap<string, Tensor>, prefix: string): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  for (const [key, t] of tensors) if (key.startsWith(prefix)) out.set(key.slice(prefix.length), t);
  return out;
}

/** `tensors` with `prefix` added to every key. */
export function prefixed(prefix: string, tensors: Iterable<[string, Tensor]>): [string, Tensor][] {
  return [...tensors].map(([k, t]) => [prefix + k, t]);
}

/**
 * Loads weights into a module, turning a key or shape mismatch into an error that names the checkpoint. Keys that
 * `skip` accepts (frozen parts loaded from their own files) are neither expected in `state` nor loaded.
 */
export function loadInto(module: Module, state: ReadonlyMap<string, Tensor>, checkpoint: string, what: string, skip: (key: string) => boolean = () => false): void {
  const fail = (detail: string) => new CheckpointError(`${checkpoint}: the ${what} weights do not fit the model built from its configuration — ${detail}`);
  const expected = [...module.stateDict().keys()].filter((k) => !skip(k));
  const missing = expected.filter((k) => !state.has(k));
  const unexpected = [...state.keys()].filter((k) => skip(k) || !expected.includes(k));
  if (missing.length || unexpected.length) {
    throw fail([missing.length ? `missing keys: ${missing.join(', ')}` : '', unexpected.length ? `unexpected keys: ${unexpected.join(', ')}` : ''].filter(Boolean).join('; '));
  }
  try {
    module.loadStateDict(state, { strict: false });
  } catch (e) {
    throw fail((e as Error).message);
  }
}

export function disposeAll(tensors: ReadonlyMap<string, Tensor>): void {
  for (const t of tensors.values()) t.dispose();
}
