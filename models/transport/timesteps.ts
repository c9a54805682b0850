import * as E from '../../engine/index.js';
import type { Backend, DType, Generator, Tensor } from '../../engine/index.js';

/**
 * Times: where training samples t, and the grid that sampling integrates over.
 *
 * The official code does its time arithmetic on 0-d float32 tensors (the grid, the shift, each solver's stage
 * times), so every intermediate is rounded to float32. `roundTo(dtype)` reproduces that in plain numbers: it is
 * Math.fround for float32 and the identity for float64.
 */
export function roundTo(dtype: DType): (v: number) => number {
  return dtype === 'float32' ? Math.fround : (v) => v;
}

/** How training draws t ∈ (0, 1). */
export type TimeDistribution = 'uniform' | 'logit-normal';

export interface TimestepOptions {
  dtype?: DType;
  backend?: string | Backend;
  generator?: Generator;
}

/**
 * One t per sample. 'uniform': U[0, 1). 'logit-normal' (released config, `use_lognorm`): t = sigmoid(n) with
 * n ~ N(0, 1); the official code draws n in float64 (scipy) and rounds t to float32 afterwards, done here too.
 * The float64 part runs on the CPU whatever the target backend (WebGPU has no float64); only t in `dtype` moves
 * there. The generator is counter-based, so the numbers do not depend on where they are drawn.
 */
export function sampleTimesteps(n: number, distribution: TimeDistribution, opts: TimestepOptions = {}): Tensor {
  const dtype = opts.dtype ?? 'float32';
  if (distribution === 'uniform') return E.rand([n], { dtype, backend: opts.backend, generator: opts.generator });
  const t = logitNormalTimesteps(E.randn([n], { dtype: 'float64', backend: 'cpu', generator: opts.generator }), dtype);
  const backend = typeof opts.backend === 'object' ? opts.backend : E.getBackend(opts.backend);
  if (backend.name === 'cpu') return t;
  const moved = E.fromArray(t.toArraySync(), [n], { dtype, backend });
  t.dispose();
  return moved;
}

/** t = 1 / (1 + e^(−n)) for given standard-normal draws n, computed in the draws' precision, then cast. */
export function logitNormalTimesteps(normalDraws: Tensor, dtype: DType = 'float32'): Tensor {
  return E.cast(E.sigmoid(normalDraws), dtype);
}

/**
 * The timestep shift of the sampling grid: t ↦ s·t / (1 + (s − 1)·t). It fixes 0 and 1; s < 1 (released: 0.3)
 * crowds the grid near t = 0 (noise) and s = 1 is the identity. It is the SD3/FLUX shift 1/s written for a time
 * axis where t = 1 is data. Evaluated with the official float32 rounding when `dtype` is float32.
 */
export function shiftTime(t: number, shift: number, dtype: DType = 'float64'): number {
  const r = roundTo(dtype);
  return r(r(r(shift) * t) / r(1 + r(r(shift - 1) * t)));
}

/**
 * The official sampling grid: `numSteps` points from 0 to 1 (so numSteps − 1 solver steps; the released "250
 * steps" are 249 Euler steps), then the timestep shift when shift > 0 (shift 0 disables it). Each point is
 * rounded to `dtype` as the official float32 `linspace` and shift arithmetic do.
 */
export function timeGrid(numSteps: number, shift = 0, dtype: DType = 'float32'): number[] {
  if (!Number.isInteger(numSteps) || numSteps < 2) throw new RangeError(`timeGrid: numSteps counts grid points and must be an integer ≥ 2, got ${numSteps}`);
  if (!(shift >= 0)) throw new RangeError(`timeGrid: shift must be ≥ 0 (0 disables it), got ${shift}`);
  const r = roundTo(dtype);
  const grid = Array.from({ length: numSteps }, (_, i) => r(i / (numSteps - 1)));
  return shift > 0 ? grid.map((t) => shiftTime(t, shift, dtype)) : grid;
}
