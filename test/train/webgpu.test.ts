import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { describeWebGPU, releaseBackend } from '../../train/backend.js';
import { tinyDit, tinyEncode, tinyVae } from './configs.js';
import { makeImageFolder, runCli, tempDir, writeConfig } from './helpers.js';

/**
 * The same pipeline on the WebGPU backend, where an adapter exists (lavapipe in CI). Without one it is skipped
 * locally but fails under CI=true, like the engine's WebGPU tests.
 */
const gpu = await describeWebGPU();
await releaseBackend();
if (!gpu.available && process.env.CI === 'true') throw new Error(`WebGPU pipeline test: no adapter under CI (${gpu.reason})`);

describe.skipIf(!gpu.available)('the pipeline on the WebGPU backend', () => {
  let dir: string;
  let data: unknown;
  beforeAll(async () => {
    dir = await tempDir('webgpu');
    data = { source: 'folder', path: await makeImageFolder(join(dir, 'images'), { perClass: 4, size: 16 }), imageSize: 16, channels: 1 };
  });

  test('train-vae → encode → train-dit → sample', async () => {
    const vae = join(dir, 'vae');
    const a = await runCli(['train-vae', '--backend', 'webgpu', '--config', await writeConfig(dir, 'v.json', { ...tinyVae(vae, data), train: { steps: 2, batchSize: 2 } })]);
    expect(a.err).toBe('');
    expect(a.out).toContain('backend: webgpu: requested');
    expect(a.code).toBe(0);
    const latents = join(dir, 'latents');
    const b = await runCli(['encode', '--backend', 'webgpu', '--config', await writeConfig(dir, 'e.json', tinyEncode(vae, latents, data))]);
    expect([b.code, b.err]).toEqual([0, '']);
    const dit = join(dir, 'dit');
    const c = await runCli(['train-dit', '--backend', 'webgpu', '--config', await writeConfig(dir, 'd.json', tinyDit(dit, latents, vae))]);
    expect([c.code, c.err]).toEqual([0, '']);
    expect(c.out).toContain('train-dit finished at step 4');
    const d = await runCli(['sample', '--backend', 'webgpu', '--checkpoint', dit, '--out', join(dir, 'final'), '--per-class', '1']);
    expect([d.code, d.err]).toEqual([0, '']);
    expect(existsSync(join(dir, 'final', 'grid.png'))).toBe(true);
  });
});
