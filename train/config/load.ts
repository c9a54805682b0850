import type { z } from 'zod';
import { ConfigError } from '../errors.js';
import { readJson } from '../files.js';

/*
 * A configuration is a JSON file, then `--set key.path=value` overrides, then the command's explicit flags (each
 * of which names one key path), validated by the command's schema. Every problem is reported at once, by key
 * path, with the closest known key for a misspelt one.
 */

export type Override = readonly [path: string, value: unknown];

/** The value of `--set k=v`: JSON when it parses (numbers, booleans, null, arrays), otherwise the text itself. */
export function parseValue(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** `key.path=value` → [path, value]. */
export function parseSet(assignment: string): Override {
  const eq = assignment.indexOf('=');
  if (eq <= 0) throw new ConfigError('--set', [`'${assignment}' is not of the form key.path=value`]);
  return [assignment.slice(0, eq), parseValue(assignment.slice(eq + 1))];
}

/** A deep copy of `base` with each override written at its dotted path (objects created on the way). */
export function applyOverrides(base: unknown, overrides: readonly Override[]): unknown {
  const root = structuredClone(base) as Record<string, unknown>;
  for (const [path, value] of overrides) {
    const keys = path.split('.');
    if (keys.some((k) => k === '')) throw new ConfigError('--set', [`'${path}' is not a key path (keys joined by dots)`]);
    let node = root;
    for (const key of keys.slice(0, -1)) {
      const next = node[key];
      if (next === null || typeof next !== 'object' || Array.isArray(next)) node[key] = {};
      node = node[key] as Record<string, unknown>;
    }
    node[keys.at(-1)!] = value;
  }
  return root;
}

export async function readConfigFile(path: string): Promise<unknown> {
  const value = await readJson(path, 'configuration file', (m) => new ConfigError(path, [m]));
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new ConfigError(path, ['the file must hold one JSON object']);
  return value;
}

/** Validates `value` against `schema`; throws a ConfigError listing every problem. `source` says where it came from. */
export function validate<S extends z.ZodType>(schema: S, value: unknown, source: string): z.infer<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw new ConfigError(source, result.error.issues.flatMap((issue) => describeIssue(schema, value, issue)));
}

function joinPath(path: readonly PropertyKey[]): string {
  return path.map(String).join('.');
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let v = root;
  for (const key of path) v = v !== null && typeof v === 'object' ? (v as Record<PropertyKey, unknown>)[key] : undefined;
  return v;
}

function show(v: unknown): string {
  if (v === undefined) return 'nothing (the key is missing)';
  if (Array.isArray(v)) return `an array ${JSON.stringify(v)}`;
  if (v === null) return 'null';
  return `${typeof v} ${JSON.stringify(v)}`;
}

function describeIssue(schema: z.ZodType, root: unknown, issue: z.core.$ZodIssue): string[] {
  const where = joinPath(issue.path);
  switch (issue.code) {
    case 'unrecognized_keys': {
      const known = knownKeys(schema, root, issue.path);
      return issue.keys.map((key) => {
        const full = where ? `${where}.${key}` : key;
        const guess = closest(key, known);
        return `unknown key '${full}'${guess ? ` (did you mean '${where ? `${where}.${guess}` : guess}'?)` : known.length ? ` (known here: ${known.join(', ')})` : ''}`;
      });
    }
    case 'invalid_type':
      return [`'${where}': expected ${issue.expected}, got ${show(valueAt(root, issue.path))}`];
    default:
      return [`'${where}': ${issue.message} (got ${show(valueAt(root, issue.path))})`];
  }
}

/** The keys that the schema allows for the object at `path` of `root`. */
function knownKeys(schema: z.ZodType, root: unknown, path: readonly PropertyKey[]): string[] {
  let node: unknown = schema;
  let value = root;
  const steps = [...path];
  for (;;) {
    const def = (node as { _zod: { def: Record<string, unknown> } })._zod.def;
    if (def.type === 'default' || def.type === 'optional' || def.type === 'nullable') {
      node = def.innerType;
    } else if (def.type === 'union' && typeof def.discriminator === 'string') {
      const tag = (value as Record<string, unknown> | undefined)?.[def.discriminator];
      node = (def.options as z.ZodType[]).find((o) => (o as unknown as { shape: Record<string, { value?: unknown }> }).shape[def.discriminator as string]?.value === tag);
      if (!node) return [];
    } else if (def.type === 'object') {
      if (steps.length === 0) return Object.keys(def.shape as object);
      const key = steps.shift()!;
      node = (def.shape as Record<PropertyKey, unknown>)[key];
      value = (value as Record<PropertyKey, unknown> | undefined)?.[key];
      if (!node) return [];
    } else {
      return [];
    }
  }
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, diagonal + (a[i - 1]!.toLowerCase() === b[j - 1]!.toLowerCase() ? 0 : 1));
      diagonal = up;
    }
  }
  return row[b.length]!;
}

/**
 * The known key nearest to `key`, if it is near enough to be a likely typo: by edit distance to the whole key or
 * to its start (so that 'hiden' finds 'hiddenSize').
 */
function closest(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const k of known) {
    const d = Math.min(editDistance(key, k), key.length >= 4 ? editDistance(key, k.slice(0, key.length + 1)) : Infinity);
    if (d < bestDistance) [best, bestDistance] = [k, d];
  }
  return bestDistance <= Math.max(2, Math.floor(key.length / 3)) ? best : undefined;
}
