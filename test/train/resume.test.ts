import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, beforeAll, describe, expect, test, vi } from 'vitest';
import { loadSafetensors } from '../../engine/index.js';
import { listCheckpoints } from '../../train/checkpoint.js';
import { MetricsLog } from '../../train/report/metrics.js';
import { tinyDit, tinyEncode, tinyVae } from './configs.js';
import { makeImageFolder, runCli, tempDir, writeConfig } from './helpers.js';

/**
 * A run interrupted by Ctrl-C and resumed must be indistinguishable from one that ran straight through: the same
 * loss at every step and the same weights, EMA and optimiser moments, bit for bit (CPU backend).
 */

/** Metrics lines without the wall-clock column. */
function losses(run: string): Record<string, number>[] {
  return readFileSync(join(run, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => {
      const { seconds: _, ...rest } = JSON.parse(l) as Record<string, number>;
      return rest;
    });
}

async function finalTensors(run: string): Promise<Map<string, number[]>> {
  const last = listCheckpoints(run).at(-1)!;
  const { tensors } = await loadSafetensors(last.replace(/\.json$/, '.safetensors'), { backend: 'cpu' });
  return new Map([...tensors].map(([k, t]) => [k, [...t.toArraySync()]]));
}

/** Presses Ctrl-C (calls the run's SIGINT handler) right after step `step` has been recorded. */
function interruptAfter(step: number): void {
  let handler: (() => void) | undefined;
  const on = process.on.bind(process);
  vi.spyOn(process, 'on').mockImplementation(((event: string, listener: () => void) => {
    if (event === 'SIGINT') handler = listener;
    return on(event as 'SIGINT', listener);
  }) as typeof process.on);
  const add = MetricsLog.prototype.add;
  vi.spyOn(MetricsLog.prototype, 'add').mockImplementation(function (this: MetricsLog, s, metrics, extra) {
    const line = add.call(this, s, metrics, extra);
    if (s === step) handler!();
    return line;
  });
}

describe('resume after Ctrl-C continues exactly (CPU)', () => {
  let dir: string;
  let data: unknown;
  let latents: string;
  beforeAll(async () => {
    dir = await tempDir('resume');
    const folder = await makeImageFolder(join(dir, 'images'), { perClass: 5, size: 16 });
    data = { source: 'folder', path: folder, imageSize: 16, channels: 1 };
    const vae = join(dir, 'vae-for-latents');
    expect((await runCli(['train-vae', '--backend', 'cpu', '--config', await writeConfig(dir, 'v.json', { ...tinyVae(vae, data), train: { steps: 1, batchSize: 2 } })])).code).toBe(0);
    latents = join(dir, 'latents');
    expect((await runCli(['encode', '--backend', 'cpu', '--config', await writeConfig(dir, 'e.json', tinyEncode(vae, latents, data))])).code).toBe(0);
  });
  afterEach(() => vi.restoreAllMocks());

  test('train-dit: interrupted at step 1 and at step 3, resumed, equals the straight run', async () => {
    const straight = join(dir, 'dit-straight');
    const resumed = join(dir, 'dit-resumed');
    const config = (out: string) => writeConfig(dir, `${out.split('/').at(-1)}.json`, { ...tinyDit(out, latents, null), checkpoint: { every: 100, keep: 10 } });
    expect((await runCli(['train-dit', '--backend', 'cpu', '--config', await config(straight)])).code).toBe(0);

    interruptAfter(1);
    const first = await runCli(['train-dit', '--backend', 'cpu', '--config', await config(resumed)]);
    expect(first.code).toBe(130);
    expect(first.out).toContain('train-dit interrupted at step 1');
    vi.restoreAllMocks();
    interruptAfter(3);
    const second = await runCli(['train-dit', '--backend', 'cpu', '--resume', resumed]);
    expect(second.code).toBe(130);
    expect(second.out).toContain('resuming from step 1');
    vi.restoreAllMocks();
    const third = await runCli(['train-dit', '--backend', 'cpu', '--resume', resumed]);
    expect(third.code).toBe(0);
    expect(third.out).toContain('train-dit finished at step 4');

    expect(losses(resumed)).toEqual(losses(straight));
    expect(losses(straight)).toHaveLength(4);
    const [a, b] = [await finalTensors(straight), await finalTensors(resumed)];
    expect([...b.keys()].sort()).toEqual([...a.keys()].sort());
    expect([...a.keys()].some((k) => k.startsWith('ema.')) && [...a.keys()].some((k) => k.startsWith('optimizer.adamw.state.'))).toBe(true);
    for (const [key, values] of a) expect(b.get(key), key).toEqual(values);
  });

  test('train-vae: interrupted at step 1, resumed, equals the straight run (discriminator phase included)', async () => {
    const straight = join(dir, 'vae-straight');
    const resumed = join(dir, 'vae-resumed');
    const config = (out: string) => writeConfig(dir, `${out.split('/').at(-1)}.json`, { ...tinyVae(out, data), train: { steps: 3, batchSize: 2 }, checkpoint: { every: 100, keep: 10 } });
    expect((await runCli(['train-vae', '--backend', 'cpu', '--config', await config(straight)])).code).toBe(0);
    interruptAfter(1);
    expect((await runCli(['train-vae', '--backend', 'cpu', '--config', await config(resumed)])).code).toBe(130);
    vi.restoreAllMocks();
    expect((await runCli(['train-vae', '--backend', 'cpu', '--resume', join(resumed, 'checkpoints', 'step-00000001.json')])).code).toBe(0);
    expect(losses(resumed)).toEqual(losses(straight));
    const [a, b] = [await finalTensors(straight), await finalTensors(resumed)];
    for (const [key, values] of a) expect(b.get(key), key).toEqual(values);
  });

  test('a real SIGINT to the command line process writes a checkpoint and exits with 130', async () => {
    const out = join(dir, 'dit-signal');
    const file = await writeConfig(dir, 'signal.json', { ...tinyDit(out, latents, null), train: { steps: 1000, batchSize: 4 }, checkpoint: { every: 1000, keep: 1 } });
    const child = spawn(process.execPath, ['--import', 'tsx', 'train/cli.ts', 'train-dit', '--backend', 'cpu', '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    const lines = createInterface({ input: child.stdout! });
    const printed: string[] = [];
    let sent = false;
    lines.on('line', (line) => {
      printed.push(line);
      // Plain log lines (stdout is not a terminal): interrupt once training has started.
      if (!sent && line.startsWith('train-dit step 2/')) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).toBe(130);
    const stopped = printed.find((l) => l.startsWith('train-dit interrupted at step '));
    expect(stopped, printed.join('\n')).toBeDefined();
    const step = Number(/at step (\d+)/.exec(stopped!)![1]);
    expect(step).toBeGreaterThanOrEqual(2);
    expect(listCheckpoints(out).at(-1)).toBe(join(out, 'checkpoints', `step-${String(step).padStart(8, '0')}.json`));
  });
});
