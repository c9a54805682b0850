import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, test, vi } from 'vitest';
import { main } from '../../eval/cli.js';
import { decodeImage } from '../../train/data/decode.js';
import { tinyDit, tinyEncode, tinyVae } from '../train/configs.js';
import { tempDir, writeConfig } from '../train/helpers.js';

/**
 * The evaluation commands through the full command line, on a tiny run trained for a few steps on 40 MNIST digits
 * (train-vae → encode → train-dit with the pipeline tests' tiny configurations): the reports carry every metric as
 * a finite number, and wrong inputs are refused with a message that names them.
 */

async function runCli(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const log = vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void out.push(a.join(' ')));
  const error = vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void err.push(a.join(' ')));
  const write = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => (out.push(String(chunk)), true));
  const exitCode = process.exitCode;
  try {
    return { code: await main(argv), out: out.join('\n'), err: err.join('\n') };
  } finally {
    process.exitCode = exitCode;
    for (const spy of [log, error, write]) spy.mockRestore();
  }
}

async function mustRun(argv: string[]): Promise<string> {
  const r = await runCli(argv);
  if (r.code !== 0) throw new Error(`${argv.join(' ')} failed (${r.code}): ${r.err}\n${r.out}`);
  return r.out;
}

const readJson = (path: string) => JSON.parse(readFileSync(path, 'utf8'));

describe('eval-vae and eval-samples on a tiny MNIST run, CPU backend', () => {
  let dir: string;
  let vaeRun: string;
  let ditRun: string;
  beforeAll(async () => {
    dir = await tempDir('eval-cli');
    const digits = { source: 'mnist', imageSize: 16, limit: 40 };
    vaeRun = join(dir, 'vae');
    ditRun = join(dir, 'dit');
    const latents = join(dir, 'latents');
    await mustRun(['train-vae', '--backend', 'cpu', '--config', await writeConfig(dir, 'vae.json', tinyVae(vaeRun, digits))]);
    await mustRun(['encode', '--backend', 'cpu', '--config', await writeConfig(dir, 'enc.json', tinyEncode(vaeRun, latents, digits))]);
    await mustRun(['train-dit', '--backend', 'cpu', '--config', await writeConfig(dir, 'dit.json', tinyDit(ditRun, latents, vaeRun))]);
  });

  test('eval-vae: rFID, PSNR, SSIM and the uniformity statistics on held-out digits, a table, a JSON report and a t-SNE plot', async () => {
    const report = join(dir, 'reports', 'vae.json');
    const scatter = join(dir, 'reports', 'tsne.png');
    const out = await mustRun(['eval-vae', '--backend', 'cpu', '--checkpoint', vaeRun, '--count', '40', '--batch-size', '16', '--tsne-points', '35', '--scatter', scatter, '--seed', '4', '--out', report]);
    expect(out).toContain('MNIST test (40 digits');
    expect(out).toMatch(/rFID \(MNIST judge\) ↓\s+\d/);
    const json = readJson(report);
    expect(json).toMatchObject({ kind: 'eval-vae', step: 3, count: 40, seed: 4, scatter });
    for (const key of ['rfid', 'psnr', 'ssim', 'seconds']) expect(Number.isFinite(json[key]), key).toBe(true);
    expect(json.ssim).toBeLessThanOrEqual(1);
    expect(json.uniformity.points).toBe(35);
    for (const key of ['densityCv', 'giniCoefficient', 'normalizedEntropy', 'densityStd']) expect(Number.isFinite(json.uniformity[key]), key).toBe(true);
    expect(json.uniformity.normalizedEntropy).toBeGreaterThan(0);
    expect(json.uniformity.normalizedEntropy).toBeLessThanOrEqual(1);
    expect(decodeImage(readFileSync(scatter)).width).toBeGreaterThan(50);

    // The default report goes into the run folder; the same seed gives the same numbers.
    await mustRun(['eval-vae', '--backend', 'cpu', '--checkpoint', vaeRun, '--count', '40', '--batch-size', '16', '--tsne-points', '35', '--seed', '4']);
    const again = readJson(join(vaeRun, 'eval-vae.json'));
    expect([again.rfid, again.psnr, again.uniformity.densityCv]).toEqual([json.rfid, json.psnr, json.uniformity.densityCv]);
  });

  test('eval-samples draws from a train-dit checkpoint, then evaluates the written PNGs the same way', async () => {
    const out = await mustRun(['eval-samples', '--backend', 'cpu', '--samples', ditRun, '--per-class', '2', '--num-steps', '3', '--cfg-scale', '1', '--reference-count', '40', '--batch-size', '8', '--seed', '2']);
    expect(out).toMatch(/gFID \(MNIST judge\) ↓\s+\d/);
    const json = readJson(join(ditRun, 'eval-samples.json'));
    expect(json).toMatchObject({ kind: 'eval-samples', count: 20, referenceCount: 40, seed: 2, samples: join(ditRun, 'eval-samples', 'images') });
    expect(json.sampler).toMatchObject({ numSteps: 3, cfgScale: 1, perClass: 2 });
    for (const key of ['gfid', 'inceptionScore', 'precision', 'recall', 'classAccuracy']) expect(Number.isFinite(json[key]), key).toBe(true);
    expect(json.inceptionScore).toBeGreaterThanOrEqual(1);
    expect(json.perClassAccuracy).toHaveLength(10);
    for (const share of [json.precision, json.recall, json.classAccuracy]) expect(share >= 0 && share <= 1).toBe(true);
    expect(readdirSync(json.samples)).toHaveLength(20);

    // A sample folder: the classes come from the file names, and the figures are those of the same PNGs.
    const folderReport = join(dir, 'reports', 'folder.json');
    await mustRun(['eval-samples', '--backend', 'cpu', '--samples', join(ditRun, 'eval-samples'), '--reference-count', '40', '--batch-size', '8', '--out', folderReport]);
    const folder = readJson(folderReport);
    expect(folder.checkpoint).toBeNull();
    expect([folder.count, folder.gfid, folder.classAccuracy]).toEqual([20, json.gfid, json.classAccuracy]);
  });

  test('a missing checkpoint, or one of the wrong kind, is refused with a message naming it', async () => {
    const missing = join(dir, 'nowhere');
    const a = await runCli(['eval-vae', '--backend', 'cpu', '--checkpoint', missing]);
    expect(a.code).toBe(1);
    expect(a.err).toBe(`error: no checkpoint at ${missing}: no such file or folder`);
    const b = await runCli(['eval-vae', '--backend', 'cpu', '--checkpoint', ditRun]);
    expect(b.code).toBe(1);
    expect(b.err).toMatch(/is a train-dit checkpoint; a train-vae checkpoint is needed here$/);
    const c = await runCli(['eval-samples', '--backend', 'cpu', '--samples', vaeRun]);
    expect(c.code).toBe(1);
    expect(c.err).toContain(`${vaeRun} holds no sample PNGs, and is not a train-dit checkpoint either`);
    expect(c.err).toMatch(/is a train-vae checkpoint; a train-dit checkpoint is needed here$/);
    const d = await runCli(['eval-vae', '--count', '0']);
    expect(d.code).toBe(2);
    expect(d.err).toBe('error: --count needs a positive integer, got 0');
    const e = await runCli(['eval-vae', '--tsne-points', '20']);
    expect(e.code).toBe(2);
    expect(e.err).toBe('error: --tsne-points needs 0 (none) or more points than the t-SNE perplexity 30, got 20');
    expect(existsSync(join(vaeRun, 'eval-samples.json'))).toBe(false);
  });

  test('both commands have --help and are listed by the full command line', async () => {
    for (const command of ['eval-vae', 'eval-samples']) {
      const r = await runCli([command, '--help']);
      expect(r.code).toBe(0);
      expect(r.out).toContain(`usage: vavae-dit ${command} [options]`);
      expect(r.out).toContain('--seed');
    }
    const overview = await runCli(['--help']);
    for (const command of ['train-vae', 'sample', 'eval-vae', 'eval-samples']) expect(overview.out).toContain(`  ${command}`);
  });
});
