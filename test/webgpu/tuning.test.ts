import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import * as E from '../../engine/index.js';
import type { AdapterSummary } from '../../engine/backends/webgpu/context.js';
import { webgpu } from '../../engine/backends/webgpu/context.js';
import { describeTuneResult, tuneMatmul } from '../../engine/backends/webgpu/matmul-autotune.js';
import { variantName } from '../../engine/backends/webgpu/matmul-shaders.js';
import { gpuTime, timestampsAvailable } from '../../engine/backends/webgpu/timing.js';
import {
  TUNING_TABLE,
  adapterClass,
  attentionSchedule,
  clearTunedVariants,
  forceAttentionSchedule,
  forceFusedAttention,
  forceMatmulVariant,
  matmulVariant,
  rememberMatmulVariant,
  shapeClass,
  usesFusedAttention,
} from '../../engine/backends/webgpu/tuning.js';
import { cpuTensor, describeGpu, toGpu } from './helpers.js';

/*
 * The tuning table's choice (by adapter class, aligned or not, overridden by a tuned or forced variant), the
 * cache file, the autotuner on the adapter at hand, and GPU timing by timestamp queries where offered.
 */

const adapter = (over: Partial<AdapterSummary>): AdapterSummary => ({
  vendor: 'v', architecture: 'a', device: 'd', description: 'test adapter', isCpu: false,
  subgroupMinSize: 0, subgroupMaxSize: 0, features: [], limits: { maxComputeInvocationsPerWorkgroup: 256 }, ...over,
});
const lavapipe = adapter({ isCpu: true, subgroupMinSize: 8, subgroupMaxSize: 8, features: ['subgroups'], description: 'llvmpipe' });
const nvidia = adapter({ vendor: 'nvidia', subgroupMinSize: 32, subgroupMaxSize: 32, features: ['subgroups'], description: 'H100' });

afterEach(() => {
  forceMatmulVariant(undefined);
  forceFusedAttention(undefined);
  forceAttentionSchedule(undefined);
  clearTunedVariants();
  delete process.env.ENGINE_TUNING_CACHE;
});

describe('the tuning table', () => {
  test('adapter classes: a GPU, a CPU adapter with one subgroup size, one without subgroups', () => {
    expect(adapterClass(nvidia)).toBe('gpu');
    expect(adapterClass(lavapipe)).toBe('cpu-subgroups');
    expect(adapterClass({ ...lavapipe, features: [] })).toBe('cpu');
    expect(adapterClass({ ...lavapipe, subgroupMinSize: 4, subgroupMaxSize: 16 })).toBe('cpu');
  });

  test('attention: fused on lavapipe, the fused forward with the composite backward on GPUs, composites elsewhere, unless forced', () => {
    const passes = (a: AdapterSummary) => [usesFusedAttention(a, 'forward'), usesFusedAttention(a, 'backward')];
    expect([passes(nvidia), passes(lavapipe), passes({ ...lavapipe, features: [] })]).toEqual([[true, false], [true, true], [false, false]]);
    forceFusedAttention(true);
    expect(passes(lavapipe)).toEqual([true, true]);
    forceFusedAttention(false);
    expect(passes(nvidia)).toEqual([false, false]);
  });

  test("the fused kernels' schedule: 'subgroup' where subgroups have one size on a CPU adapter, else 'row'", () => {
    expect([nvidia, lavapipe, { ...lavapipe, features: [] }].map(attentionSchedule)).toEqual(['row', 'subgroup', 'row']);
    forceAttentionSchedule('row');
    expect(attentionSchedule(lavapipe)).toBe('row');
    forceAttentionSchedule('subgroup');
    expect(attentionSchedule(nvidia)).toBe('row');
  });

  test('shape classes bucket each dim', () => {
    expect(shapeClass(1024, 1024, 1024)).toBe('ml nl kl');
    expect(shapeClass(63, 64, 512)).toBe('ms nm kl');
  });

  test('the table by default, its unaligned entry where vec4 cannot read the operands', () => {
    for (const a of [lavapipe, nvidia]) {
      const entry = TUNING_TABLE[adapterClass(a)];
      expect(matmulVariant(a, 64, 64, 64, true)).toEqual(entry.matmul);
      const unaligned = matmulVariant(a, 64, 64, 64, false);
      expect(unaligned).toEqual(entry.matmul.schedule === 'vec4' ? entry.unaligned : entry.matmul);
    }
  });

  test('a tuned variant wins over the table for its adapter and shape class only; a forced one over both', () => {
    const tuned = { schedule: 'register', rows: 4, cols: 4, wgX: 8, wgY: 1 } as const;
    rememberMatmulVariant(nvidia, shapeClass(1024, 1024, 1024), tuned);
    expect(matmulVariant(nvidia, 1000, 2000, 600, true)).toEqual(tuned);
    expect(matmulVariant(nvidia, 10, 2000, 600, true)).toEqual(TUNING_TABLE.gpu.matmul);
    expect(matmulVariant(lavapipe, 1000, 2000, 600, true)).toEqual(TUNING_TABLE['cpu-subgroups'].matmul);
    forceMatmulVariant({ schedule: 'tiled' });
    expect(matmulVariant(nvidia, 1000, 2000, 600, true)).toEqual({ schedule: 'tiled' });
  });

  test('a variant the adapter cannot run is never chosen (subgroup broadcast on a GPU)', () => {
    forceMatmulVariant({ schedule: 'subgroup', rows: 4, cols: 4 });
    expect(matmulVariant(nvidia, 64, 64, 64, true)).toEqual(TUNING_TABLE.gpu.matmul);
  });

  test('ENGINE_TUNING_CACHE keeps tuned choices in a JSON file, read back by a fresh cache', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tuning-'));
    try {
      process.env.ENGINE_TUNING_CACHE = join(dir, 'sub', 'tuning.json');
      clearTunedVariants();
      rememberMatmulVariant(nvidia, 'ml nl kl', { schedule: 'tiled' });
      const saved = JSON.parse(readFileSync(process.env.ENGINE_TUNING_CACHE, 'utf8')) as Record<string, Record<string, unknown>>;
      expect(Object.values(saved)[0]).toEqual({ 'ml nl kl': { schedule: 'tiled' } });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describeGpu('tuning and timing on this adapter', () => {
  test('the autotuner ranks the candidates, remembers the winner, and matmul then uses it', async () => {
    const a = webgpu().adapter;
    const candidates = TUNING_TABLE[adapterClass(a)].candidates.slice(0, 2);
    const result = await tuneMatmul({ m: 40, n: 36, k: 20, batch: 2 }, { candidates, rounds: 1 });
    expect(result.ranking.map((r) => r.name).sort()).toEqual(candidates.map(variantName).sort());
    expect(result.ranking[0]!.ms).toBeLessThanOrEqual(result.ranking[1]!.ms);
    expect(describeTuneResult(result)).toContain(result.ranking[0]!.name);
    expect(matmulVariant(a, 40, 36, 20, true)).toEqual(result.ranking[0]!.variant);
  });

  test('timestamp queries time the device work of a call (when the adapter offers them)', async (ctx) => {
    if (!timestampsAvailable()) ctx.skip();
    const x = toGpu(cpuTensor([256, 256], 1));
    const started = performance.now();
    const ms = await gpuTime(async () => {
      E.matmul(x, x).dispose();
      await E.webgpuSync();
    });
    const wall = performance.now() - started;
    x.dispose();
    // Device time is positive and lies within the wall-clock window around it (a unit slip would break either).
    expect(ms).toBeGreaterThan(0);
    expect(ms).toBeLessThanOrEqual(wall);
  });
});
