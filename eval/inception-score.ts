import { EngineError } from '../engine/errors.js';
import type { FeatureMatrix } from './features.js';

/**
 * The Inception Score of class probabilities p(y|x) (N×K, rows summing to 1), as the ADM evaluator computes it:
 * the samples are cut into consecutive splits of `splitSize` (the last may be shorter); per split,
 * IS = exp(mean over x of KL(p(y|x) ‖ p(y))) with p(y) the split's mean prediction; the result is the mean over
 * splits. Terms with p(y|x) = 0 count as 0 (the limit of p·log p).
 */
export function inceptionScore({ data, count, dim }: FeatureMatrix, splitSize = 5000): number {
  if (count === 0) throw new EngineError('inceptionScore: no samples');
  const scores: number[] = [];
  for (let start = 0; start < count; start += splitSize) {
    const end = Math.min(count, start + splitSize);
    const marginal = new Float64Array(dim);
    for (let i = start; i < end; i++) for (let k = 0; k < dim; k++) marginal[k] = marginal[k]! + data[i * dim + k]! / (end - start);
    let kl = 0;
    for (let i = start; i < end; i++) {
      for (let k = 0; k < dim; k++) {
        const p = data[i * dim + k]!;
        if (p > 0) kl += p * (Math.log(p) - Math.log(marginal[k]!));
      }
    }
    scores.push(Math.exp(kl / (end - start)));
  }
  return scores.reduce((a, b) => a + b, 0) / scores.length;
}
