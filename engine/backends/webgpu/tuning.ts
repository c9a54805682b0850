import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import type { AttentionSchedule } from './attention-wgsl.js';
import type { AdapterSummary } from './context.js';
import { type MatmulVariant, variantName } from './matmul-shaders.js';

/**
 * Which matmul schedule each adapter gets. What is fast on one adapter is slow on another: workgroup memory and
 * barriers pay off on GPUs, while on lavapipe (SIMD lanes on the CPU) barriers are expensive, every vec4
 * accumulator takes four registers, and lane-varying loads go lane by lane. So the choice is explicit:
 *
 * 1. a variant forced by a test (`forceMatmulVariant`);
 * 2. else one the autotuner measured on this adapter for this shape class (matmul-autotune.ts), kept in memory
 *    and, when a cache file is set, on disk;
 * 3. else the table below, by adapter class.
 *
 * The table's entries were measured with the autotuner (figures below). On another card, run it there: the
 * ranking it prints says whether the table fits (see `tuneMatmul` in matmul-autotune.ts).
 */

export type AdapterClass = 'cpu-subgroups' | 'cpu' | 'gpu';

export interface TuningEntry {
  /** The default variant. */
  matmul: MatmulVariant;
  /** The default where the operands do not suit 'vec4' (see `vec4Aligned` in matmul.ts). */
  unaligned: MatmulVariant;
  /** What the autotuner tries on this class of adapter (the default among them). */
  candidates: MatmulVariant[];
  /**
   * Workgroups that a convolution's weight gradient should keep busy: its GEMM has few tiles of C and a long K
   * (all images and pixels), so conv.ts splits K into slices until about this many tiles run (0: never split).
   */
  weightGradWorkgroups: number;
  /**
   * Whether scaled_dot_product_attention (forward) and scaled_dot_product_attention_backward run as the fused
   * flash kernels of attention*.ts, or as their composites on this backend's own kernels; and the fused
   * kernels' schedule (attention-wgsl.ts).
   */
  fusedAttention: { forward: boolean; backward: boolean; schedule: AttentionSchedule };
  /**
   * Whether a matmul takes the elementwise ops reading its result as an epilogue (fusion.ts): one dispatch and
   * one pass through memory fewer per op, at the price of a shader per epilogue, with the epilogue's code
   * inlined at each of the kernel's stores.
   */
  matmulEpilogues: boolean;
}

const tiled: MatmulVariant = { schedule: 'tiled' };
const subgroup4x4: MatmulVariant = { schedule: 'subgroup', rows: 4, cols: 4 };
const register8x8: MatmulVariant = { schedule: 'register', rows: 8, cols: 8, wgX: 8, wgY: 8 };
const vec4x8x8: MatmulVariant = { schedule: 'vec4', rows: 8, quads: 2, wgX: 8, wgY: 8 };

/*
 * lavapipe (Mesa 25, 2-vCPU AMD EPYC, shared: load average 14–20 during these runs; device time by timestamps,
 * candidates interleaved, medians relative to the best):
 *   512³, twice: subgroup 2x8 1, 2x4 1.06–1.08, 4x2 1.02–1.12, 4x4 1.5–1.6, register 4x4 (8×1 or 8×2 lanes)
 *   2.4–2.5, vec4 8x8 2.6;
 *   1024³: subgroup 4x4 1, 2x8 1.07, 2x4 1.15, 4x2 1.44; earlier register 8x8 wg 8x8 1.45, 16x4 wg 8x1 2.5.
 * The default stays 4x4, the best at the size the targets are set at; the autotuner can pick per shape class.
 * 'register' with one row of lanes (uniform A addresses) was no faster than with two: lavapipe still loads A
 * lane by lane. 'register' and 'vec4' load far more per FMA than the subgroup broadcast.
 *
 * NVIDIA H200 (Dawn on Vulkan, driver 580; device time, median of 5, relative to the best):
 *   2048³ vec4 8x8 wg 16x16 21.7 TFLOP/s, vec4 8x8 wg 8x8 1.01, tiled 1.18, register 4x4 1.90;
 *   4096³ vec4 8x8 wg 8x8 26.5 TFLOP/s, vec4 8x8 wg 16x16 1.07, tiled 1.23, register 4x4 2.03;
 *   8×[64,576]×[576,1024] (a conv's GEMM) vec4 8x8 wg 16x16 best, vec4 8x8 wg 8x8 1.05, tiled 1.15;
 *   [576,8192]×[8192,64] (a weight gradient: 9 tiles of C, long K) tiled best, vec4 8x8 wg 8x8 2.26;
 *   1024³ and smaller: all within 8% (launch-bound).
 * The 'vec4' schedule needs aligned operands; the rest go to 'tiled'.
 */
export const TUNING_TABLE: Record<AdapterClass, TuningEntry> = {
  'cpu-subgroups': {
    matmul: subgroup4x4,
    unaligned: subgroup4x4,
    candidates: [
      subgroup4x4,
      { schedule: 'subgroup', rows: 2, cols: 8 },
      { schedule: 'subgroup', rows: 2, cols: 4 },
      { schedule: 'subgroup', rows: 4, cols: 2 },
      register8x8,
      { schedule: 'vec4', rows: 8, quads: 2, wgX: 8, wgY: 8 },
    ],
    // Two cores are kept busy by the tiles alone.
    weightGradWorkgroups: 0,
    // 8 heads × 256 tokens × 64 (same process, shared VM): the fused forward's 'subgroup' schedule runs at
    // 1.3–2× the composite's speed (3.5–7 GFLOP/s against 2–4); the fused backward's, with its forward, at
    // 1.3–1.9× autograd through the composite (5.3–8 GFLOP/s against 3.9–4.7; device time, interleaved), though
    // its two kernels take lavapipe ~40 s to compile (the forward's ~12 s). The 'row' schedule loads once per
    // multiply-add, 8–10× slower than the composites here, and lavapipe compiles it for minutes at head dim 64.
    fusedAttention: { forward: true, backward: true, schedule: 'subgroup' },
    // Bench training steps (same session, alternating): LightningDiT 5.4–5.5 s with epilogues, 5.7–6.1 s
    // without; VA-VAE 9.8–12.8 s with, 9.5–10.2 s without. Each new epilogue is a matmul shader that lavapipe
    // takes ~15 s to compile (first call, tests on a fresh machine), which outweighs a 5–10% gain.
    matmulEpilogues: false,
  },
  cpu: {
    matmul: register8x8,
    unaligned: register8x8,
    candidates: [register8x8, { schedule: 'register', rows: 4, cols: 4, wgX: 8, wgY: 8 }, tiled],
    weightGradWorkgroups: 0,
    fusedAttention: { forward: false, backward: false, schedule: 'row' },
    matmulEpilogues: false,
  },
  gpu: {
    matmul: vec4x8x8,
    unaligned: tiled,
    candidates: [
      vec4x8x8,
      tiled,
      { schedule: 'vec4', rows: 8, quads: 2, wgX: 16, wgY: 16 },
      { schedule: 'vec4', rows: 8, quads: 1, wgX: 16, wgY: 8 },
      { schedule: 'vec4', rows: 4, quads: 1, wgX: 16, wgY: 16 },
      { schedule: 'register', rows: 4, cols: 4, wgX: 16, wgY: 16 },
    ],
    // A few per multiprocessor of a large GPU (an H200 has 132).
    weightGradWorkgroups: 512,
    // H200, 8 heads × 256 tokens × 64: fused forward 0.30 ms vs composite 0.87 ms; fused backward 8.4 ms vs
    // autograd through the composite 1.9 ms (its per-row kernels leave the GPU mostly idle at this size).
    fusedAttention: { forward: true, backward: false, schedule: 'row' },
    // Small models are launch-bound on GPUs (LightningDiT's step on an H200, above): a dispatch fewer per
    // linear layer's bias and activation. Not yet measured on a GPU.
    matmulEpilogues: true,
  },
};

/** The subgroup schedule needs one fixed subgroup size (it is the workgroup size) and the 'subgroups' feature. */
export function adapterClass(a: AdapterSummary): AdapterClass {
  if (!a.isCpu) return 'gpu';
  const uniformSubgroups = a.subgroupMinSize > 0 && a.subgroupMinSize === a.subgroupMaxSize;
  return uniformSubgroups && a.features.includes('subgroups') ? 'cpu-subgroups' : 'cpu';
}

/** Whether this adapter can run the variant at all. */
export function runsOn(v: MatmulVariant, a: AdapterSummary): boolean {
  if (v.schedule === 'subgroup') return adapterClass(a) === 'cpu-subgroups';
  if (v.schedule === 'register') return v.wgX * v.wgY <= (a.limits.maxComputeInvocationsPerWorkgroup ?? 256);
  return true;
}

/** Each dim as small (< 64), medium (< 512) or large: speed rankings change little within a class. */
export function shapeClass(m: number, n: number, k: number): string {
  const size = (d: number) => (d < 64 ? 's' : d < 512 ? 'm' : 'l');
  return `m${size(m)} n${size(n)} k${size(k)}`;
}

/** Identifies an adapter in the tuning cache. */
export function adapterKey(a: AdapterSummary): string {
  return `${a.vendor}/${a.architecture}/${a.description || a.device}`;
}

let forced: MatmulVariant | undefined;

/** Makes every matmul use this variant (tests use it to run the variants the table does not pick here). */
export function forceMatmulVariant(v: MatmulVariant | undefined): void {
  forced = v;
}

let forcedAttention: boolean | undefined;

/** Makes attention (forward and backward) run fused (true) or composite (false) on every adapter; undefined: the table decides. */
export function forceFusedAttention(fused: boolean | undefined): void {
  forcedAttention = fused;
}

/** Whether this adapter runs that pass of attention as the fused kernels (see `TuningEntry.fusedAttention`). */
export function usesFusedAttention(a: AdapterSummary, pass: 'forward' | 'backward'): boolean {
  return forcedAttention ?? TUNING_TABLE[adapterClass(a)].fusedAttention[pass];
}

let forcedEpilogues: boolean | undefined;

/** Makes matmuls take epilogues (true) or not (false) on every adapter; undefined: the table decides. */
export function forceMatmulEpilogues(on: boolean | undefined): void {
  forcedEpilogues = on;
}

/** Whether matmuls on this adapter take the elementwise ops after them as epilogues (see `TuningEntry.matmulEpilogues`). */
export function usesMatmulEpilogues(a: AdapterSummary): boolean {
  return forcedEpilogues ?? TUNING_TABLE[adapterClass(a)].matmulEpilogues;
}

let forcedSchedule: AttentionSchedule | undefined;

/** Makes the fused kernels use this schedule where the adapter runs it (tests use it to run both on one adapter). */
export function forceAttentionSchedule(schedule: AttentionSchedule | undefined): void {
  forcedSchedule = schedule;
}

/** The fused kernels' schedule on this adapter: 'subgroup' needs subgroups of one fixed size, as its workgroup is one. */
export function attentionSchedule(a: AdapterSummary): AttentionSchedule {
  const cls = adapterClass(a);
  const schedule = forcedSchedule ?? TUNING_TABLE[cls].fusedAttention.schedule;
  return schedule === 'subgroup' && cls !== 'cpu-subgroups' ? 'row' : schedule;
}

/** Tuned choices: adapter key → shape class → variant. */
type TuningCache = Record<string, Record<string, MatmulVariant>>;
let tuned: TuningCache | undefined;

/** ENGINE_TUNING_CACHE names a JSON file that keeps tuned choices across runs ('' or unset: memory only). */
function cachePath(): string | undefined {
  const p = process.env.ENGINE_TUNING_CACHE;
  if (p === undefined || p === '') return undefined;
  return p === '1' ? join(homedir(), '.cache', 'ts-dl-engine', 'webgpu-tuning.json') : p;
}

function cache(): TuningCache {
  if (!tuned) {
    const path = cachePath();
    tuned = path && existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as TuningCache) : {};
  }
  return tuned;
}

/** Records a measured choice (and writes the cache file, when one is set). */
export function rememberMatmulVariant(a: AdapterSummary, shape: string, v: MatmulVariant): void {
  const all = cache();
  (all[adapterKey(a)] ??= {})[shape] = v;
  const path = cachePath();
  if (path) {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, JSON.stringify(all, null, 2) + '\n');
  }
}

/** Forgets tuned choices in memory (the cache file stays). */
export function clearTunedVariants(): void {
  tuned = {};
}

/** The variant for a product of this shape on this adapter (see the order at the top). */
export function matmulVariant(a: AdapterSummary, m: number, n: number, k: number, vec4Aligned: boolean): MatmulVariant {
  const entry = TUNING_TABLE[adapterClass(a)];
  const usable = (v: MatmulVariant | undefined): v is MatmulVariant => v !== undefined && runsOn(v, a) && (vec4Aligned || v.schedule !== 'vec4');
  if (usable(forced)) return forced;
  const measured = cache()[adapterKey(a)]?.[shapeClass(m, n, k)];
  if (usable(measured)) return measured;
  return usable(entry.matmul) ? entry.matmul : entry.unaligned;
}

/** One line for logs: the adapter class and its default variant. */
export function describeTuning(a: AdapterSummary): string {
  const cls = adapterClass(a);
  const picks = Object.entries(cache()[adapterKey(a)] ?? {}).map(([shape, v]) => `${shape}: ${variantName(v)}`);
  return `matmul on ${cls}: ${variantName(TUNING_TABLE[cls].matmul)} by default${picks.length ? `; tuned ${picks.join(', ')}` : ''}`;
}
