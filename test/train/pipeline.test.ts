import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import jpeg from 'jpeg-js';
import { beforeAll, describe, expect, test } from 'vitest';
import { decodeImage } from '../../train/data/decode.js';
import { tinyDit, tinyEncode, tinyVae } from './configs.js';
import { makeImageFolder, runCli, tempDir, writeConfig } from './helpers.js';

/**
 * The whole headless pipeline on a tiny image folder, through the command line as a user runs it: train-vae →
 * encode → train-dit → sample, then info. Each command runs a few steps of a tiny model, so a broken path fails
 * here in seconds.
 */
describe('the pipeline on an image folder, CPU backend', () => {
  let dir: string;
  let folder: string;
  beforeAll(async () => {
    dir = await tempDir('pipeline');
    folder = await makeImageFolder(join(dir, 'images'), { classes: ['left', 'right'], perClass: 5, size: 20 });
    // One JPEG among the PNGs.
    const rgba = new Uint8Array(24 * 24 * 4).fill(200);
    await writeFile(join(folder, 'right', 'photo.jpg'), jpeg.encode({ width: 24, height: 24, data: rgba }, 90).data);
  });

  const data = () => ({ source: 'folder', path: folder, imageSize: 16, channels: 1 });

  test('train-vae → encode → train-dit → sample', async () => {
    const vaeRun = join(dir, 'vae');
    const vae = await runCli(['train-vae', '--backend', 'cpu', '--config', await writeConfig(dir, 'vae.json', tinyVae(vaeRun, data()))]);
    expect(vae.err).toBe('');
    expect(vae.code).toBe(0);
    expect(vae.out).toContain('data: image folder');
    expect(vae.out).toContain('train-vae finished at step 3');
    expect(readdirSync(join(vaeRun, 'checkpoints'))).toEqual(['step-00000002.json', 'step-00000002.safetensors', 'step-00000003.json', 'step-00000003.safetensors']);
    const lines = readFileSync(join(vaeRun, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.map((l) => l.step)).toEqual([1, 2, 3]);
    for (const l of lines) expect(Number.isFinite(l.loss) && Number.isFinite(l.nll) && Number.isFinite(l.disc)).toBe(true);
    expect(decodeImage(readFileSync(join(vaeRun, 'loss.png'))).width).toBeGreaterThan(100);
    expect(existsSync(join(vaeRun, 'samples', 'step-00000002.png'))).toBe(true);

    const latents = join(dir, 'latents');
    const enc = await runCli(['encode', '--backend', 'cpu', '--config', await writeConfig(dir, 'enc.json', tinyEncode(vaeRun, latents, data()))]);
    expect(enc.code).toBe(0);
    expect(enc.out).toContain('encode: 11 images → 2 shard(s) of latents [4, 8, 8]');
    expect(readdirSync(latents).sort()).toEqual(['dataset.json', 'latents_rank00_shard000.safetensors', 'latents_rank00_shard001.safetensors', 'latents_stats.safetensors']);

    const ditRun = join(dir, 'dit');
    const dit = await runCli(['train-dit', '--backend', 'cpu', '--config', await writeConfig(dir, 'dit.json', tinyDit(ditRun, latents, vaeRun))]);
    expect(dit.code).toBe(0);
    expect(dit.out).toContain('train-dit finished at step 4');
    expect(existsSync(join(ditRun, 'samples', 'step-00000004.png'))).toBe(true);
    const ditLines = readFileSync(join(ditRun, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(ditLines.map((l) => l.step)).toEqual([1, 2, 3, 4]);
    expect(ditLines[0].lr).toBeCloseTo(5e-4, 12); // warm-up: step 1 of 2

    const out = join(dir, 'final');
    const sample = await runCli(['sample', '--backend', 'cpu', '--checkpoint', ditRun, '--out', out, '--method', 'midpoint', '--num-steps', '3', '--per-class', '2', '--classes', '1,0', '--seed', '5']);
    expect(sample.code).toBe(0);
    expect(sample.out).toContain(`grid: ${join(out, 'grid.png')}`);
    expect(readdirSync(join(out, 'images'))).toEqual(['00000-class1.png', '00001-class0.png', '00002-class1.png', '00003-class0.png']);
    const img = decodeImage(readFileSync(join(out, 'images', '00000-class1.png')));
    expect([img.width, img.height]).toEqual([16, 16]);
    // The raw weights instead of the EMA give other pictures from the same noise.
    const raw = await runCli(['sample', '--backend', 'cpu', '--checkpoint', ditRun, '--out', join(dir, 'raw'), '--weights', 'model', '--method', 'midpoint', '--num-steps', '3', '--per-class', '2', '--classes', '1,0', '--seed', '5']);
    expect(raw.code).toBe(0);
    expect(readFileSync(join(dir, 'raw', 'images', '00000-class1.png'))).not.toEqual(readFileSync(join(out, 'images', '00000-class1.png')));
  });

  test('train-vae on MNIST (the default data) runs from the ready configuration with flags', async () => {
    const run = join(dir, 'mnist-vae');
    const r = await runCli(['train-vae', '--backend', 'cpu', '--out', run, '--steps', '1', '--batch-size', '2', '--limit', '8', '--set', 'model.ch=8', '--set', 'model.numGroups=4']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/data: MNIST train \(8 digits, (reduced to \d+×\d+, )?padded to \d+×\d+\)/);
    expect(r.out).toContain('train-vae finished at step 1');
  });

  test('info reports the backends', async () => {
    const r = await runCli(['info']);
    expect(r.code).toBe(0);
    expect(r.out).toContain('cpu: always available');
    expect(r.out).toMatch(/webgpu: /);
  });

  test('every command has --help', async () => {
    for (const command of ['train-vae', 'encode', 'train-dit', 'sample', 'info']) {
      const r = await runCli([command, '--help']);
      expect(r.code).toBe(0);
      expect(r.out).toContain(`usage: vavae-dit ${command} [options]`);
      expect(r.out).toContain('--help');
    }
  });
});
