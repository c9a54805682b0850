import { EngineError } from '../engine/errors.js';
import { cholesky } from './linalg.js';

/*
 * Gaussian kernel density estimation with scipy.stats.gaussian_kde's semantics (unweighted points):
 *   f(x) = (1/N)·Σᵢ N(x; xᵢ, H),  H = h²·Σ̂,
 * Σ̂ the unbiased sample covariance of the points and h the bandwidth factor, by default Scott's rule
 * h = N^(−1/(d+4)).
 */

export interface GaussianKde {
  dim: number;
  count: number;
  /** The factor h that scales the data covariance's square root. */
  factor: number;
  /** H = h²·Σ̂, dim×dim. */
  covariance: Float64Array;
  /** The density at m points (m×dim, row-major). */
  evaluate(at: ArrayLike<number>, m: number): Float64Array;
}

export type Bandwidth = 'scott' | 'silverman' | number;

export function gaussianKde(points: ArrayLike<number>, count: number, dim: number, bandwidth: Bandwidth = 'scott'): GaussianKde {
  if (points.length !== count * dim || count < 2) throw new EngineError(`gaussianKde: needs at least 2 points of dimension ${dim}, got ${points.length} numbers for ${count}`);
  const factor =
    bandwidth === 'scott' ? count ** (-1 / (dim + 4)) : bandwidth === 'silverman' ? ((count * (dim + 2)) / 4) ** (-1 / (dim + 4)) : bandwidth;

  const mean = new Float64Array(dim);
  for (let i = 0; i < count; i++) for (let a = 0; a < dim; a++) mean[a] = mean[a]! + points[i * dim + a]! / count;
  const covariance = new Float64Array(dim * dim);
  for (let i = 0; i < count; i++) {
    for (let a = 0; a < dim; a++) {
      for (let b = 0; b < dim; b++) covariance[a * dim + b] = covariance[a * dim + b]! + (points[i * dim + a]! - mean[a]!) * (points[i * dim + b]! - mean[b]!);
    }
  }
  for (let k = 0; k < covariance.length; k++) covariance[k] = (covariance[k]! / (count - 1)) * factor * factor;

  // With H = L·Lᵀ the exponent is −½‖L⁻¹(x − xᵢ)‖²: whiten every point once, then distances are Euclidean.
  let l: Float64Array;
  try {
    l = cholesky(covariance, dim);
  } catch {
    throw new EngineError(`gaussianKde: the points' covariance is singular (they lie in a lower-dimensional subspace)`);
  }
  const whiten = (source: ArrayLike<number>, m: number): Float64Array => {
    const out = new Float64Array(m * dim);
    for (let i = 0; i < m; i++) {
      for (let a = 0; a < dim; a++) {
        let s = source[i * dim + a]!;
        for (let b = 0; b < a; b++) s -= l[a * dim + b]! * out[i * dim + b]!;
        out[i * dim + a] = s / l[a * dim + a]!;
      }
    }
    return out;
  };
  const centres = whiten(points, count);
  let determinantRoot = 1;
  for (let a = 0; a < dim; a++) determinantRoot *= l[a * dim + a]!;
  const normaliser = 1 / (count * (2 * Math.PI) ** (dim / 2) * determinantRoot);

  return {
    dim,
    count,
    factor,
    covariance,
    evaluate(at: ArrayLike<number>, m: number): Float64Array {
      if (at.length !== m * dim) throw new EngineError(`gaussianKde.evaluate: ${at.length} numbers are not ${m} points of dimension ${dim}`);
      const x = whiten(at, m);
      const density = new Float64Array(m);
      for (let j = 0; j < m; j++) {
        let sum = 0;
        for (let i = 0; i < count; i++) {
          let squared = 0;
          for (let a = 0; a < dim; a++) squared += (x[j * dim + a]! - centres[i * dim + a]!) ** 2;
          sum += Math.exp(-squared / 2);
        }
        density[j] = sum * normaliser;
      }
      return density;
    },
  };
}
