import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { listCheckpoints } from '../../train/checkpoint.js';
import { tinyDit, tinyEncode, tinyVae } from './configs.js';
import { makeImageFolder, runCli, tempDir, writeConfig } from './helpers.js';

/** Bad inputs at the command line: each one exits with a non-zero code and one message that says what is wrong. */
describe('clear errors for bad inputs', () => {
  let dir: string;
  let folder: string;
  let vaeRun: string;
  let latents: string;
  const data = () => ({ source: 'folder', path: folder, imageSize: 16, channels: 1 });

  beforeAll(async () => {
    dir = await tempDir('errors');
    folder = await makeImageFolder(join(dir, 'images'), { perClass: 4, size: 16 });
    vaeRun = join(dir, 'vae');
    expect((await runCli(['train-vae', '--backend', 'cpu', '--config', await writeConfig(dir, 'v.json', { ...tinyVae(vaeRun, data()), train: { steps: 1, batchSize: 2 } })])).code).toBe(0);
    latents = join(dir, 'latents');
    expect((await runCli(['encode', '--backend', 'cpu', '--config', await writeConfig(dir, 'e.json', tinyEncode(vaeRun, latents, data()))])).code).toBe(0);
  });

  test('a missing image folder', async () => {
    const r = await runCli(['train-vae', '--backend', 'cpu', '--data', join(dir, 'no-such-folder'), '--out', join(dir, 'x')]);
    expect(r.code).toBe(1);
    expect(r.err).toBe(`error: ${join(dir, 'no-such-folder')}: no such folder (an image folder needs one subfolder of images per class)`);
  });

  test('a corrupt image: an error naming the file, or a warning with --skip-corrupt', async () => {
    const broken = await makeImageFolder(join(dir, 'broken'), { perClass: 3, size: 16 });
    const bad = join(broken, 'circle', 'img1.png');
    await writeFile(bad, 'this is not a picture');
    const config = await writeConfig(dir, 'broken.json', { ...tinyEncode(vaeRun, join(dir, 'broken-latents'), { ...data(), path: broken }) });
    const strict = await runCli(['encode', '--backend', 'cpu', '--config', config]);
    expect(strict.code).toBe(1);
    expect(strict.err).toBe(`error: ${bad}: cannot decode the image (neither a PNG nor a JPEG signature); pass --skip-corrupt to skip such files`);
    const lenient = await runCli(['encode', '--backend', 'cpu', '--config', config, '--skip-corrupt']);
    expect(lenient.code).toBe(0);
    expect(lenient.err).toContain(`warning: skipping ${bad}`);
    expect(lenient.out).toContain('encode: 5 images');
  });

  test('a configuration with an unknown key and a wrong type lists both', async () => {
    const config = await writeConfig(dir, 'typo.json', { ...tinyDit(join(dir, 'd'), latents, null), optimiser: {}, train: { steps: 'ten', batchSize: 4 } });
    const r = await runCli(['train-dit', '--backend', 'cpu', '--config', config]);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`error: invalid configuration (${config}):`);
    expect(r.err).toContain("unknown key 'optimiser' (did you mean 'optimizer'?)");
    expect(r.err).toContain(`'train.steps': expected number, got string "ten"`);
  });

  test('--set with an unknown key or a wrong type, and a bad flag value', async () => {
    const r = await runCli(['train-dit', '--backend', 'cpu', '--set', 'model.hiden=3', '--set', 'ema.warmup=yes']);
    expect(r.code).toBe(1);
    expect(r.err).toContain("unknown key 'model.hiden' (did you mean 'model.hiddenSize'?)");
    expect(r.err).toContain(`'ema.warmup': expected boolean, got string "yes"`);
    const flag = await runCli(['train-dit', '--steps', 'ten']);
    expect([flag.code, flag.err]).toEqual([2, "error: --steps needs an integer, got 'ten'"]);
    const unknown = await runCli(['train-dit', '--stepz', '3']);
    expect(unknown.code).toBe(2);
    expect(unknown.err).toMatch(/^error: train-dit: unknown option --stepz\. Options: --config, /);
    const backend = await runCli(['info', '--backend', 'tpu']);
    expect([backend.code, backend.err]).toEqual([1, "error: --backend must be cpu, webgpu, gpujs or auto, not 'tpu'"]);
  });

  test('a checkpoint whose shapes do not fit the configured model', async () => {
    const run = join(dir, 'dit-a');
    expect((await runCli(['train-dit', '--backend', 'cpu', '--config', await writeConfig(dir, 'a.json', { ...tinyDit(run, latents, null), train: { steps: 1, batchSize: 4 } })])).code).toBe(0);
    const wider = await runCli(['train-dit', '--backend', 'cpu', '--resume', run, '--set', 'model.hiddenSize=32']);
    expect(wider.code).toBe(1);
    expect(wider.err).toMatch(/^error: .*step-00000001\.json: the LightningDiT weights do not fit the model built from its configuration — .*shape \[16\] in the state, \[32\] in the module/);
  });

  test('a checkpoint with missing or unexpected keys, and one of the wrong kind', async () => {
    const run = join(dir, 'dit-b');
    expect((await runCli(['train-dit', '--backend', 'cpu', '--config', await writeConfig(dir, 'b.json', { ...tinyDit(run, latents, null), train: { steps: 1, batchSize: 4 } })])).code).toBe(0);
    const deeper = await runCli(['train-dit', '--backend', 'cpu', '--resume', run, '--set', 'model.depth=2']);
    expect(deeper.code).toBe(1);
    expect(deeper.err).toMatch(/the LightningDiT weights do not fit .* missing keys: blocks\.1\./);
    const noQk = await runCli(['train-dit', '--backend', 'cpu', '--resume', run, '--set', 'model.useRmsnorm=false']);
    expect(noQk.err).toMatch(/unexpected keys: blocks\.0\.norm1\.weight/);
    const kind = await runCli(['sample', '--backend', 'cpu', '--checkpoint', vaeRun]);
    expect(kind.code).toBe(1);
    expect(kind.err).toMatch(/step-00000001\.json is a train-vae checkpoint; a train-dit checkpoint is needed here$/);
    const none = await runCli(['sample', '--checkpoint', join(dir, 'nowhere')]);
    expect(none.err).toBe(`error: no checkpoint at ${join(dir, 'nowhere')}: no such file or folder`);
  });

  test('a fresh run into a folder that holds checkpoints is refused', async () => {
    const r = await runCli(['train-vae', '--backend', 'cpu', '--config', await writeConfig(dir, 'again.json', tinyVae(vaeRun, data()))]);
    expect(r.code).toBe(1);
    expect(r.err).toBe(`error: ${vaeRun} already holds checkpoints of an earlier run: continue it with --resume, or choose another --out`);
  });

  test('a loss that becomes non-finite stops the run naming the step and keeps the last good checkpoint', async () => {
    const run = join(dir, 'dit-nan');
    // A learning rate of 1e30 sends the weights to ±1e30 after the first step; the second forward overflows.
    const config = await writeConfig(dir, 'nan.json', { ...tinyDit(run, latents, null), optimizer: { lr: 1e30, betas: [0.9, 0.95] }, checkpoint: { every: 1, keep: 5 } });
    const r = await runCli(['train-dit', '--backend', 'cpu', '--config', config]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^error: the loss is (NaN|Infinity) at step 2; the run stopped without saving this state\. The last good checkpoint is .*step-00000001\.json\. Rerun with --detect-anomaly/);
    expect(listCheckpoints(run).map((p) => p.split('/').at(-1))).toEqual(['step-00000001.json']);

    const anomaly = await runCli(['train-dit', '--backend', 'cpu', '--config', config, '--out', join(dir, 'dit-nan-anomaly'), '--detect-anomaly']);
    expect(anomaly.code).toBe(1);
    expect(anomaly.err).toMatch(/^error: anomaly: \w+ \((forward|backward)\) produced (NaN|-?Infinity) at flat index \d+ .* at step 2; the run stopped/);
    expect(existsSync(join(dir, 'dit-nan-anomaly', 'checkpoints', 'step-00000002.json'))).toBe(false);
  });
});
