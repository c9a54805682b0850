import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { readyConfig } from '../../train/cli/common.js';
import { applyOverrides, parseSet, readConfigFile, validate } from '../../train/config/load.js';
import { encodeSchema, trainDitSchema, trainVaeSchema } from '../../train/config/schema.js';
import { ConfigError } from '../../train/errors.js';

const SCHEMAS = { 'train-vae': trainVaeSchema, encode: encodeSchema, 'train-dit': trainDitSchema } as const;

async function mnistDit(): Promise<Record<string, unknown>> {
  return (await readConfigFile(readyConfig('mnist-dit.json'))) as Record<string, unknown>;
}

function problems(f: () => unknown): string[] {
  try {
    f();
  } catch (e) {
    if (e instanceof ConfigError) return [...e.problems];
    throw e;
  }
  throw new Error('expected a ConfigError');
}

describe('ready configurations', () => {
  const dir = join(readyConfig('x'), '..');
  test.each(readdirSync(dir).filter((f) => f.endsWith('.json')))('%s is valid for its command', async (file) => {
    const raw = (await readConfigFile(join(dir, file))) as { kind: keyof typeof SCHEMAS };
    expect(Object.keys(SCHEMAS)).toContain(raw.kind);
    expect(() => validate(SCHEMAS[raw.kind], raw, file)).not.toThrow();
  });

  test('the ImageNet LightningDiT config has the released settings', async () => {
    const c = validate(trainDitSchema, await readConfigFile(readyConfig('imagenet-lightningdit-xl1.json')), 'xl1');
    expect(c.model).toMatchObject({ depth: 28, hiddenSize: 1152, numHeads: 16, patchSize: 1, useSwiglu: true, useRope: true, useRmsnorm: true, useQknorm: false });
    expect(c.optimizer).toMatchObject({ lr: 2e-4, betas: [0.9, 0.95], weightDecay: 0, maxGradNorm: null, warmupSteps: 0 });
    expect(c.ema).toEqual({ decay: 0.9999, warmup: false });
    expect(c.train).toMatchObject({ batchSize: 1024, steps: 80000 });
    expect(c.sample).toMatchObject({ method: 'euler', numSteps: 250, shift: 0.3, cfgScale: 6.7, cfgIntervalStart: 0.125, guidedChannels: 3 });
  });
});

describe('overrides and validation', () => {
  test('--set values parse as JSON when they can, as text otherwise', () => {
    expect(parseSet('optimizer.lr=1e-3')).toEqual(['optimizer.lr', 0.001]);
    expect(parseSet('sample.classes=[1,2]')).toEqual(['sample.classes', [1, 2]]);
    expect(parseSet('vae=null')).toEqual(['vae', null]);
    expect(parseSet('out=runs/x')).toEqual(['out', 'runs/x']);
    expect(() => parseSet('noequals')).toThrow(/not of the form key\.path=value/);
  });

  test('overrides write at dotted paths without touching the original', async () => {
    const base = await mnistDit();
    const next = applyOverrides(base, [['train.steps', 7], ['model.depth', 2]]) as { train: { steps: number }; model: { depth: number } };
    expect(next.train.steps).toBe(7);
    expect(next.model.depth).toBe(2);
    expect((base.train as { steps: number }).steps).not.toBe(7);
  });

  test('an unknown key is named with its path and the closest known key', async () => {
    const bad = applyOverrides(await mnistDit(), [['optimizer.lrr', 0.1], ['trian', {}]]);
    const list = problems(() => validate(trainDitSchema, bad, 'test'));
    expect(list).toContain("unknown key 'optimizer.lrr' (did you mean 'optimizer.lr'?)");
    expect(list).toContain("unknown key 'trian' (did you mean 'train'?)");
  });

  test('a wrong type names the key, the expected type and the value given', async () => {
    const bad = applyOverrides(await mnistDit(), [['train.steps', 'many'], ['model.useRope', 1]]);
    const list = problems(() => validate(trainDitSchema, bad, 'test'));
    expect(list).toContain(`'train.steps': expected number, got string "many"`);
    expect(list).toContain("'model.useRope': expected boolean, got number 1");
  });

  test('a missing key, an out-of-range value and a bad enum are reported together', async () => {
    const bad = applyOverrides(await mnistDit(), [['train.batchSize', -4], ['sample.method', 'rk45']]) as Record<string, unknown>;
    delete (bad.model as Record<string, unknown>).depth;
    const list = problems(() => validate(trainDitSchema, bad, 'test'));
    expect(list.some((p) => p.startsWith("'model.depth': expected number, got nothing"))).toBe(true);
    expect(list.some((p) => p.startsWith("'train.batchSize': Too small") && p.includes('-4'))).toBe(true);
    expect(list.some((p) => p.startsWith("'sample.method': Invalid option"))).toBe(true);
  });

  test('the data section is checked against its source (mnist or folder)', async () => {
    const raw = (await readConfigFile(readyConfig('mnist-vavae.json'))) as Record<string, unknown>;
    const list = problems(() => validate(trainVaeSchema, applyOverrides(raw, [['data.path', '/x']]), 'test'));
    expect(list).toEqual(["unknown key 'data.path' (known here: source, split, imageSize, limit)"]);
    expect(() => validate(trainVaeSchema, applyOverrides(raw, [['data', { source: 'folder', path: '/x', imageSize: 32, channels: 1 }]]), 'test')).not.toThrow();
  });

  test('a configuration file that is not JSON names the file', async () => {
    await expect(readConfigFile('/nonexistent/config.json')).rejects.toThrow(/cannot read configuration file \/nonexistent\/config\.json \(ENOENT\)/);
  });
});
