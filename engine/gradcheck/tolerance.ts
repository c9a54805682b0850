import type { DType } from '../dtype.js';
import type { EntryStatus, GradcheckOptions } from './types.js';

/**
 * The bounds of §7.2. A comparison passes iff |a − n| ≤ atol·s + rtol·m + 4·e, with s the output scale
 * (max(1,|y|), summed over the outputs a projection covers), m the magnitude of the quantities compared, and e
 * the oracle's own error estimate. An estimate above 1e-4·max(1, m) makes the oracle untrustworthy: the result is
 * then inconclusive, never a pass.
 */

export interface Tolerance {
  atol: number;
  rtol: number;
}

/** f64: 100–1000× tighter than PyTorch's 1e-5/1e-3. f32 is judged against the f64 oracle ("lifted"). */
export function defaultTolerance(dtype: DType, scheme: GradcheckOptions['scheme']): Tolerance {
  if (dtype === 'float32') return { atol: 1e-6, rtol: 1e-5 };
  return scheme === 'richardson' ? { atol: 1e-10, rtol: 1e-8 } : { atol: 1e-8, rtol: 1e-6 };
}

export function toleranceFor(dtype: DType, opts: GradcheckOptions): Tolerance {
  const d = defaultTolerance(dtype, opts.scheme);
  return { atol: opts.atol ?? d.atol, rtol: opts.rtol ?? d.rtol };
}

export const NOISE_CAP = 1e-4;

export interface Comparison {
  analytical: number;
  numerical: number;
  /** The oracle's error estimate. */
  noise: number;
  /** What atol is relative to. */
  scale: number;
  /** What rtol is relative to; at least max(|a|, |n|). */
  magnitude: number;
  /** One-sided slopes when a kink was detected. */
  kink?: readonly [number, number];
}

export interface Judgement {
  status: EntryStatus;
  tol: number;
  ratio: number;
}

/**
 * At a kink the central difference means little, so the entry is inconclusive, unless the analytical value
 * lies outside the one-sided slopes (widened by the tolerance): no convention can explain that, so it fails.
 */
export function judge(c: Comparison, tol: Tolerance): Judgement {
  const { analytical: a, numerical: n } = c;
  const magnitude = Math.max(c.magnitude, Math.abs(a), Math.abs(n));
  const allowed = tol.atol * c.scale + tol.rtol * magnitude + 4 * c.noise;
  const diff = Math.abs(a - n);
  const ratio = diff / Math.max(allowed, Number.MIN_VALUE);
  const verdict = (status: EntryStatus): Judgement => ({ status, tol: allowed, ratio: Number.isNaN(ratio) ? Infinity : ratio });
  if (!Number.isFinite(n)) return verdict('inconclusive');
  if (!Number.isFinite(a)) return verdict('fail');
  if (c.kink) {
    const [f, b] = c.kink;
    const outside = a < Math.min(f, b) - allowed || a > Math.max(f, b) + allowed;
    return verdict(outside ? 'fail' : 'inconclusive');
  }
  if (!(c.noise <= NOISE_CAP * Math.max(1, Math.abs(n)))) return verdict('inconclusive');
  return verdict(diff <= allowed ? 'ok' : 'fail');
}
