import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import * as E from '../../engine/index.js';
import type { DType, Tensor } from '../../engine/index.js';
import { loadSafetensors } from '../../engine/safetensors.js';
import { type Module, buffer, parameter, roleOf } from '../../nn/index.js';
import { LightningDiT, configFromOfficial } from '../../models/lightningdit/index.js';

/*
 * Access to the official PyTorch fixtures (../shared/fixtures, or FIXTURES_DIR): each `<stem>.safetensors` has a
 * `<stem>.json` sidecar with the config and the calls that produced it (see the fixtures' README). Tensor names:
 * state-dict keys (weights), `input.*`, `expected.*` (float32 results; `*_f64` float64 ones), `grad_input.*`,
 * `grad_param.<key>`, and prefixed sub-fixtures (`train.*`, `sample.*`, ...).
 */

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

export const FIXTURES_DIR = resolve(repoRoot, process.env.FIXTURES_DIR ?? '../shared/fixtures');

/**
 * The fixture stems whose file name matches `pattern`. A missing directory means no fixtures (the caller skips),
 * unless FIXTURES_DIR was set explicitly or CI is set: then it is an error.
 */
export function fixtureStems(pattern: RegExp): string[] {
  if (!existsSync(FIXTURES_DIR)) {
    // CI always has ../shared/fixtures beside the clone: there a missing folder is a failure, never a skip.
    if (process.env.FIXTURES_DIR || process.env.CI) throw new Error(`the fixtures folder ${FIXTURES_DIR} does not exist (FIXTURES_DIR=${process.env.FIXTURES_DIR ?? "unset"})`);
    return [];
  }
  return readdirSync(FIXTURES_DIR)
    .filter((f) => f.endsWith('.safetensors') && pattern.test(f))
    .map((f) => f.slice(0, -'.safetensors'.length))
    .sort();
}

export interface Fixture {
  stem: string;
  sidecar: Record<string, any>;
  tensors: Map<string, Tensor>;
  /** The tensor `name`; a missing one fails the test (a fixture that cannot be checked is a failure). */
  get(name: string): Tensor;
  has(name: string): boolean;
  /** Names starting with `prefix`, with the prefix removed. */
  withPrefix(prefix: string): Map<string, Tensor>;
}

const cache = new Map<string, Promise<Fixture>>();

export function loadFixture(stem: string): Promise<Fixture> {
  let pending = cache.get(stem);
  if (!pending) {
    pending = read(stem);
    cache.set(stem, pending);
  }
  return pending;
}

async function read(stem: string): Promise<Fixture> {
  const sidecarPath = join(FIXTURES_DIR, `${stem}.json`);
  if (!existsSync(sidecarPath)) throw new Error(`fixture ${stem}: the sidecar ${sidecarPath} is missing`);
  const sidecar = JSON.parse(readFileSync(sidecarPath, 'utf8')) as Record<string, any>;
  const { tensors } = await loadSafetensors(join(FIXTURES_DIR, `${stem}.safetensors`));
  const listed = Object.keys(sidecar.tensors ?? {});
  const absent = listed.filter((name) => !tensors.has(name));
  if (absent.length) throw new Error(`fixture ${stem}: tensors listed in the sidecar are missing from the file: ${absent.join(', ')}`);
  return {
    stem,
    sidecar,
    tensors,
    has: (name) => tensors.has(name),
    get(name) {
      const t = tensors.get(name);
      if (!t) throw new Error(`fixture ${stem}: no tensor '${name}'`);
      return t;
    },
    withPrefix(prefix) {
      return new Map([...tensors].filter(([k]) => k.startsWith(prefix)).map(([k, t]) => [k.slice(prefix.length), t]));
    },
  };
}

/** The weights and buffers of a fixture: the tensors without an `input.`/`expected.`/`grad_*.`/sub-fixture prefix. */
export function stateDictOf(fixture: Fixture): Map<string, Tensor> {
  return new Map([...fixture.tensors].filter(([k]) => !/^(input|expected|grad_input|grad_param|train|sample|reference_rk4|lognorm)\./.test(k)));
}

/** The LightningDiT of a fixture sidecar's `config`, with the fixture's weights, in eval mode, in `dtype`. */
export function lightningDiTFrom(sidecar: Record<string, any>, weights: Map<string, Tensor>, dtype: DType = 'float32'): LightningDiT {
  const model = new LightningDiT(configFromOfficial(sidecar.config)).eval();
  model.loadStateDict(weights);
  return model.to(dtype);
}

export function maxAbs(values: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < values.length; i++) m = Math.max(m, Math.abs(values[i]!));
  return m;
}

/**
 * Asserts |actual − expected| ≤ tol elementwise (same shape), reporting the worst element. `tol` is absolute;
 * see `outputTolerance` and `gradientTolerance` for the fixture README's suggestions.
 */
export function expectClose(what: string, actual: Tensor, expected: Tensor, tol: number): void {
  expect(actual.shape, `${what}: shape`).toEqual(expected.shape);
  const a = actual.toArraySync();
  const b = expected.toArraySync();
  let worst = -1;
  let worstDiff = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (!(d <= worstDiff)) {
      worst = i;
      worstDiff = d;
    }
  }
  if (!(worstDiff <= tol)) {
    expect.fail(`${what}: max |actual − expected| = ${worstDiff} at flat index ${worst} (actual ${a[worst]}, expected ${b[worst]}) exceeds ${tol}`);
  }
}

/**
 * The README's suggestions. float32 outputs: 1e-4·max(1, max|expected|). float32 gradients: 1e-3 of the tensor's
 * max |value|, with an absolute floor for tensors that are mathematically zero. float64: 1e-10 of the scale.
 */
export function outputTolerance(expected: Tensor, dtype: DType): number {
  return (dtype === 'float64' ? 1e-10 : 1e-4) * Math.max(1, maxAbs(expected.toArraySync()));
}

export function gradientTolerance(expected: Tensor, dtype: DType): number {
  return dtype === 'float64' ? 1e-10 * Math.max(1, maxAbs(expected.toArraySync())) : Math.max(1e-3 * maxAbs(expected.toArraySync()), 1e-5);
}

/** A fixture tensor in `dtype` (labels stay int32). */
export function as(t: Tensor, dtype: DType): Tensor {
  return t.dtype === 'int32' ? t : E.cast(t, dtype);
}

/** A fresh leaf holding a fixture tensor's values in `dtype`, for gradients (the cached fixture stays untouched). */
export function leaf(t: Tensor, dtype: DType): Tensor {
  return E.detach(E.cast(t, dtype)).requiresGrad_();
}
