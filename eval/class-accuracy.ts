import { EngineError } from '../engine/errors.js';
import type { FeatureMatrix } from './features.js';

export interface ClassAccuracy {
  /** Share of all samples whose predicted class is the class they were generated for. */
  accuracy: number;
  /** The same share within each class (NaN for a class with no samples). */
  perClass: Float64Array;
}

/**
 * Class-conditional accuracy of generated samples: the judge's most probable class (first one on ties) against the
 * label each sample was conditioned on. Chance level is 1/K.
 */
export function classAccuracy(probabilities: FeatureMatrix, labels: ArrayLike<number>): ClassAccuracy {
  const { data, count, dim } = probabilities;
  if (labels.length !== count) throw new EngineError(`classAccuracy: ${labels.length} labels for ${count} predictions`);
  const hits = new Float64Array(dim);
  const totals = new Float64Array(dim);
  let correct = 0;
  for (let i = 0; i < count; i++) {
    const label = labels[i]!;
    if (!Number.isInteger(label) || label < 0 || label >= dim) throw new EngineError(`classAccuracy: label ${label} of sample ${i} is not a class in 0…${dim - 1}`);
    let best = 0;
    for (let k = 1; k < dim; k++) if (data[i * dim + k]! > data[i * dim + best]!) best = k;
    totals[label] = totals[label]! + 1;
    if (best === label) {
      hits[label] = hits[label]! + 1;
      correct++;
    }
  }
  return { accuracy: correct / count, perClass: hits.map((h, k) => h / totals[k]!) };
}
