import { EngineError } from '../engine/errors.js';
import type { FeatureMatrix } from './features.js';
import { matmul, symmetricEigen } from './linalg.js';

/*
 * The Fréchet distance between two Gaussians (the "FID" when they are fitted to InceptionV3 pool features):
 *   d² = ‖μ₁ − μ₂‖² + tr Σ₁ + tr Σ₂ − 2·tr (Σ₁Σ₂)^½.
 * pytorch-fid takes scipy's `sqrtm` of the non-symmetric product Σ₁Σ₂, which can come back complex or inaccurate.
 * Here the trace comes from the symmetric matrix M = Σ₁^½·Σ₂·Σ₁^½ instead: it is similar to Σ₁Σ₂ (same
 * eigenvalues), positive semi-definite, and tr (Σ₁Σ₂)^½ = Σ √μᵢ over its eigenvalues μᵢ.
 */

/** The mean and the unbiased covariance (numpy's `np.cov(rowvar=False)`, divisor N − 1) of a set of features. */
export interface GaussianStatistics {
  dim: number;
  count: number;
  mean: Float64Array;
  /** dim×dim, row-major. */
  covariance: Float64Array;
}

/** Samples per pass when accumulating the covariance (bounds the centred copy). */
const CHUNK = 256;

export function gaussianStatistics({ data, count, dim }: FeatureMatrix): GaussianStatistics {
  if (count < 2) throw new EngineError(`gaussianStatistics: a covariance needs at least 2 samples, got ${count}`);
  const mean = new Float64Array(dim);
  for (let s = 0; s < count; s++) {
    for (let a = 0; a < dim; a++) mean[a] = mean[a]! + data[s * dim + a]!;
  }
  for (let a = 0; a < dim; a++) mean[a] = mean[a]! / count;

  // Σ (x − μ)(x − μ)ᵀ over the samples, upper triangle only, on centred chunks.
  const covariance = new Float64Array(dim * dim);
  const centred = new Float64Array(CHUNK * dim);
  for (let s0 = 0; s0 < count; s0 += CHUNK) {
    const rows = Math.min(CHUNK, count - s0);
    for (let r = 0; r < rows; r++) {
      for (let a = 0; a < dim; a++) centred[r * dim + a] = data[(s0 + r) * dim + a]! - mean[a]!;
    }
    for (let a = 0; a < dim; a++) {
      const ca = a * dim;
      for (let r = 0; r < rows; r++) {
        const xr = r * dim;
        const v = centred[xr + a]!;
        if (v === 0) continue;
        for (let b = a; b < dim; b++) covariance[ca + b] = covariance[ca + b]! + v * centred[xr + b]!;
      }
    }
  }
  for (let a = 0; a < dim; a++) {
    for (let b = a; b < dim; b++) covariance[a * dim + b] = covariance[b * dim + a] = covariance[a * dim + b]! / (count - 1);
  }
  return { dim, count, mean, covariance };
}

/**
 * tr (Σ₁Σ₂)^½ for symmetric positive semi-definite Σ₁, Σ₂ (n×n). With Σ₁ = V·Λ·Vᵀ and D = Λ^½ (negative rounding
 * noise in Λ clamped to 0), Σ₁^½ = V·D·Vᵀ, so Vᵀ·M·V = D·(Vᵀ·Σ₂·V)·D: its eigenvalues are M's, and it is formed
 * with two products instead of three.
 */
export function traceSqrtProduct(sigma1: Float64Array, sigma2: Float64Array, n: number): number {
  const { values, vectors } = symmetricEigen(sigma1, n);
  const vt = vectors!; // row j = eigenvector j
  const root = Float64Array.from(values, (v) => Math.sqrt(Math.max(v, 0)));
  // Directions where Σ₁ vanishes contribute nothing to M: drop them to shrink the second eigenproblem.
  const kept = [...root.keys()].filter((j) => root[j]! > 0);
  const r = kept.length;

  // Y = Vᵀ_kept · Σ₂ (r×n), then K[a][b] = D_a · (Y_a · v_b) · D_b.
  const keptRows = new Float64Array(r * n);
  kept.forEach((j, a) => keptRows.set(vt.subarray(j * n, j * n + n), a * n));
  const y = matmul(keptRows, sigma2, r, n, n);
  const k = new Float64Array(r * r);
  for (let a = 0; a < r; a++) {
    const ya = a * n;
    for (let b = 0; b <= a; b++) {
      const vb = b * n;
      let dot = 0;
      for (let c = 0; c < n; c++) dot += y[ya + c]! * keptRows[vb + c]!;
      k[a * r + b] = k[b * r + a] = root[kept[a]!]! * dot * root[kept[b]!]!;
    }
  }
  const mu = symmetricEigen(k, r, { vectors: false }).values;
  return mu.reduce((sum, m) => sum + Math.sqrt(Math.max(m, 0)), 0);
}

export function frechetDistance(a: GaussianStatistics, b: GaussianStatistics): number {
  if (a.dim !== b.dim) throw new EngineError(`frechetDistance: statistics of dimension ${a.dim} and ${b.dim}`);
  const n = a.dim;
  let meanTerm = 0;
  let traces = 0;
  for (let i = 0; i < n; i++) {
    meanTerm += (a.mean[i]! - b.mean[i]!) ** 2;
    traces += a.covariance[i * n + i]! + b.covariance[i * n + i]!;
  }
  return meanTerm + traces - 2 * traceSqrtProduct(a.covariance, b.covariance, n);
}
