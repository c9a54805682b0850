import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test, vi } from 'vitest';
import type { SampleEvaluation } from '../../eval/cli/eval-samples.js';
import type { VaeEvaluation } from '../../eval/cli/eval-vae.js';
import { ARMS, armStages, runArm, settingsFor } from '../../eval/reproduce.js';
import { type ArmResult, type ReproductionResults, renderTable, vfVerdicts } from '../../eval/reproduce-report.js';
import { tempDir } from '../train/helpers.js';

/** An arm's results with the given metric values (the rest fixed). */
function arm(width: number, vf: boolean, m: { rfid: number; psnr: number; gfid: number; accuracy: number | null; cv: number; entropy: number }): ArmResult {
  const vae = { rfid: m.rfid, psnr: m.psnr, ssim: 0.8, uniformity: { points: 100, densityCv: m.cv, giniCoefficient: 0.3, normalizedEntropy: m.entropy, densityStd: 1 } } as VaeEvaluation;
  const samples = { gfid: m.gfid, classAccuracy: m.accuracy } as SampleEvaluation;
  const seconds = { trainVae: 60, encode: 5, trainDit: 120, evalVae: 10, evalSamples: 20, total: 215 };
  return { name: `f4d${width}-${vf ? 'vf' : 'novf'}`, width, vf, seed: 0, seconds, vae, samples };
}

describe('the reproduction table', () => {
  const arms = [
    arm(4, false, { rfid: 10, psnr: 20, gfid: 30, accuracy: 0.5, cv: 0.9, entropy: 0.9 }),
    arm(4, true, { rfid: 12, psnr: 19, gfid: 25, accuracy: 0.7, cv: 0.8, entropy: 0.95 }),
    arm(16, false, { rfid: 5, psnr: 25, gfid: 40, accuracy: null, cv: 1.1, entropy: 0.8 }),
    arm(16, true, { rfid: 5, psnr: 26, gfid: 20, accuracy: 0.6, cv: 1.2, entropy: 0.85 }),
  ];

  test('the VF loss "helped" where its arm moved a metric the better way: lower for FIDs and spreads, higher otherwise', () => {
    const verdicts = vfVerdicts(arms);
    const at = (width: number, metric: string) => verdicts.find((v) => v.width === width && v.metric === metric)!.helped;
    expect(verdicts).toHaveLength(2 * 8);
    expect([at(4, 'rFID'), at(4, 'PSNR'), at(4, 'gFID'), at(4, 'cond. acc.'), at(4, 'density CV'), at(4, 'norm. entropy')]).toEqual([false, false, true, true, true, true]);
    // Equal values and missing ones decide nothing.
    expect([at(16, 'rFID'), at(16, 'cond. acc.'), at(16, 'Gini')]).toEqual([null, null, null]);
    expect([at(16, 'PSNR'), at(16, 'gFID'), at(16, 'density CV')]).toEqual([true, true, false]);
    // A width with one arm only has no verdicts.
    expect(vfVerdicts(arms.slice(0, 3)).map((v) => v.width)).toEqual(Array(8).fill(4));
  });

  test('table.md: one row per arm with every column, and the per-width verdicts', () => {
    const results: ReproductionResults = { startedAt: '2026-01-01T00:00:00Z', settings: settingsFor({ quick: false, backend: 'cpu', seed: 7 }), arms, verdicts: vfVerdicts(arms), seconds: 860 };
    const table = renderTable(results);
    expect(table).toContain('| tokenizer | VF loss | rFID ↓ | PSNR ↑ | SSIM ↑ | gFID ↓ | cond. acc. ↑ | density CV ↓ | Gini ↓ | norm. entropy ↑ | wall (min) |');
    expect(table).toContain('| f4d4 | yes | 12 | 19 | 0.8000 | 25 | 0.7000 | 0.8000 | 0.3000 | 0.9500 | 3.6 |');
    expect(table).toContain('| f4d16 | no | 5 | 25 | 0.8000 | 40 | — |');
    expect(table).toContain('| gFID ↓ | 30 → 25 | 40 → 20 | ✓ | ✓ |');
    expect(table).toContain('| rFID ↓ | 10 → 12 | 5 → 5 | ✗ | = |');
    expect(table).toContain('- d4: with the VF loss 4 of 8 metrics were better, 2 worse, 2 equal or missing.');
    expect(table).toContain('seed 7 for every stage');
    expect(table).not.toContain('--quick');
  });
});

describe('the arms', () => {
  test('four arms, two widths with and without the VF loss; the stages give each the same budget', () => {
    expect(ARMS.map((a) => a.name)).toEqual(['f4d4-novf', 'f4d4-vf', 'f4d16-novf', 'f4d16-vf']);
    const s = settingsFor({ quick: false, backend: 'cpu', seed: 0 });
    const budgets = ARMS.map((a) => armStages(a, s, 'x').map(({ argv }) => argv.filter((t, i, all) => ['--steps', '--batch-size', '--count', '--per-class', '--num-steps'].includes(all[i - 1] ?? '')).join(' ')));
    for (const b of budgets) expect(b).toEqual(budgets[0]);
    const [off, on] = [armStages(ARMS[2]!, s, 'x')[0]!.argv.join(' '), armStages(ARMS[3]!, s, 'x')[0]!.argv.join(' ')];
    expect(off).toContain('--set foundation=null --set loss.vfWeight=0');
    expect(on).not.toContain('foundation');
    expect(on).toContain('--set model.embedDim=16 --set model.zChannels=16');
  });

  test('one arm end to end at a minimal size writes both reports, and its results carry every metric', async () => {
    const dir = await tempDir('reproduce');
    const settings = { ...settingsFor({ quick: true, backend: 'cpu', seed: 1 }), vaeSteps: 2, encodeImages: 40, ditSteps: 2, evalImages: 40, tsnePoints: 35, samplesPerClass: 1, samplerSteps: 3, referenceImages: 40 };
    const lines: string[] = [];
    const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    const write = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      const result = await runArm(ARMS[3]!, settings, join(dir, 'arm'), (m) => lines.push(m));
      expect(result).toMatchObject({ name: 'f4d16-vf', width: 16, vf: true, seed: 1 });
      expect(result.vae.step).toBe(2);
      expect(result.vae.count).toBe(40);
      expect(result.samples.count).toBe(10);
      for (const value of [result.vae.rfid, result.vae.psnr, result.vae.uniformity!.densityCv, result.samples.gfid, result.samples.classAccuracy]) expect(Number.isFinite(value)).toBe(true);
      expect(result.seconds.total).toBeCloseTo(Object.entries(result.seconds).filter(([k]) => k !== 'total').reduce((t, [, v]) => t + v, 0), 6);
      expect(existsSync(join(dir, 'arm', 'latents-tsne.png'))).toBe(true);
      expect(JSON.parse(readFileSync(join(dir, 'arm', 'vae', 'config.json'), 'utf8'))).toMatchObject({ model: { embedDim: 16, zChannels: 16 }, foundation: { kind: 'mnist-classifier', layer: 'conv3' } });
      expect(lines.filter((l) => l.includes('done in'))).toHaveLength(5);
    } finally {
      log.mockRestore();
      write.mockRestore();
    }
  });
});
