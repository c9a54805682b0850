import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';
import { listOps } from '../../engine/index.js';

/*
 * Every registered op is tested by name: `opProperty('<name>', …)` (gradcheck, gradgradcheck, f32 vs f64) for an
 * op with a gradient, `nonDifferentiable('<name>', …)` for one without. The calls are found in the text of the
 * test files, so each must name its op literally.
 */

const testDir = fileURLToPath(new URL('..', import.meta.url));

function testSources(): string {
  return readdirSync(testDir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.test.ts'))
    .map((f) => readFileSync(join(testDir, f), 'utf8'))
    .join('\n');
}

function namesIn(source: string, helper: string): Set<string> {
  return new Set([...source.matchAll(new RegExp(`\\b${helper}\\(\\s*(['"\`])([^'"\`]+)\\1`, 'g'))].map((m) => m[2]!));
}

const sources = testSources();
const properties = namesIn(sources, 'opProperty');
const declaredWithout = namesIn(sources, 'nonDifferentiable');

test('every registered op has a property test or a nonDifferentiable declaration', () => {
  const missing = listOps()
    .map((op) => op.name)
    .filter((name) => !properties.has(name) && !declaredWithout.has(name));
  expect(missing, `ops named in no opProperty('<name>') or nonDifferentiable('<name>') call: ${missing.join(', ')}`).toEqual([]);
});

test('ops with a gradient (a backward rule, or a composite of differentiable ops) have a property test', () => {
  const untested = listOps()
    .filter((op) => (op.backward !== undefined || op.kind === 'composite') && !properties.has(op.name))
    .map((op) => op.name);
  expect(untested, `differentiable ops without an opProperty('<name>') call: ${untested.join(', ')}`).toEqual([]);
});

test('no op declared nonDifferentiable has a backward rule', () => {
  const contradicted = listOps()
    .filter((op) => declaredWithout.has(op.name) && op.backward !== undefined)
    .map((op) => op.name);
  expect(contradicted).toEqual([]);
});
