import { EngineError } from '../engine/errors.js';
import type { FeatureMatrix } from './features.js';
import { matmul } from './linalg.js';

/*
 * Improved precision and recall (Kynkäänniemi et al., 2019) as the ADM evaluator computes them. Each set of
 * features approximates its manifold by the union of balls around its points, each ball reaching the point's k-th
 * nearest neighbour in the same set (k = 3; the point itself is not its own neighbour). Precision is the share of
 * generated points inside the real manifold, recall the share of real points inside the generated one; a point on
 * a ball's boundary counts as inside.
 */

/** Rows of `a` against which the whole of `b` is compared at once (bounds the distance block in memory). */
const ROW_BLOCK = 256;

/** Squared norms of the rows. */
function squaredNorms({ data, count, dim }: FeatureMatrix): Float64Array {
  const out = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    let s = 0;
    for (let k = 0; k < dim; k++) s += data[i * dim + k]! ** 2;
    out[i] = s;
  }
  return out;
}

/**
 * Calls `visit(row, distances)` for every row of `a` with its squared Euclidean distances to every row of `b`,
 * computed blockwise as ‖a‖² + ‖b‖² − 2·a·b (clamped at 0 against rounding), in float64.
 */
function forEachDistanceRow(a: FeatureMatrix, b: FeatureMatrix, visit: (row: number, distances: Float64Array) => void): void {
  if (a.dim !== b.dim) throw new EngineError(`precisionRecall: features of dimension ${a.dim} and ${b.dim}`);
  const dim = a.dim;
  const normsA = squaredNorms(a);
  const normsB = squaredNorms(b);
  const bTransposed = new Float64Array(dim * b.count);
  for (let j = 0; j < b.count; j++) for (let k = 0; k < dim; k++) bTransposed[k * b.count + j] = b.data[j * dim + k]!;
  for (let start = 0; start < a.count; start += ROW_BLOCK) {
    const rows = Math.min(ROW_BLOCK, a.count - start);
    const block = Float64Array.from(a.data.subarray(start * dim, (start + rows) * dim));
    const dots = matmul(block, bTransposed, rows, dim, b.count);
    for (let r = 0; r < rows; r++) {
      const distances = dots.subarray(r * b.count, (r + 1) * b.count);
      for (let j = 0; j < b.count; j++) distances[j] = Math.max(normsA[start + r]! + normsB[j]! - 2 * distances[j]!, 0);
      visit(start + r, distances);
    }
  }
}

/** Squared distance from each point to its k-th nearest other point of the same set (sorted index k, self at 0). */
export function manifoldRadii(features: FeatureMatrix, k = 3): Float64Array {
  if (features.count <= k) throw new EngineError(`manifoldRadii: ${features.count} points have no ${k}-th nearest neighbour`);
  const radii = new Float64Array(features.count);
  forEachDistanceRow(features, features, (row, distances) => {
    distances[row] = 0; // exactly, whatever the rounding
    radii[row] = distances.sort()[k]!;
  });
  return radii;
}

/** Share of the points of `points` that lie in at least one ball (centre from `centres`, squared radius from `radii`). */
function coverage(points: FeatureMatrix, centres: FeatureMatrix, radii: Float64Array): number {
  let inside = 0;
  forEachDistanceRow(points, centres, (_, distances) => {
    for (let j = 0; j < distances.length; j++) {
      if (distances[j]! <= radii[j]!) {
        inside++;
        return;
      }
    }
  });
  return inside / points.count;
}

export function precisionRecall(real: FeatureMatrix, generated: FeatureMatrix, k = 3): { precision: number; recall: number } {
  return {
    precision: coverage(generated, real, manifoldRadii(real, k)),
    recall: coverage(real, generated, manifoldRadii(generated, k)),
  };
}
