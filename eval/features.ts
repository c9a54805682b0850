import { type Tensor, noGrad, scope, softmax } from '../engine/index.js';
import { EngineError, fmtShape } from '../engine/errors.js';

/*
 * Feature extractors are the networks that generation metrics look through: InceptionV3 for ImageNet-style
 * images (FID, IS, precision/recall as the official evaluation computes them), the project's MNIST classifier for
 * digits. They all take images [N, C, H, W] with values in [−1, 1], the engine's image convention.
 */

/** N feature vectors of one dimension, row-major. */
export interface FeatureMatrix {
  data: Float32Array;
  count: number;
  dim: number;
}

export interface ExtractorOutput {
  /** [N, dim]: the embedding the Fréchet distance and precision/recall compare. */
  features: Tensor;
  /** [N, classes], when the network classifies (Inception Score, class accuracy). */
  logits?: Tensor;
}

export interface FeatureExtractor {
  readonly name: string;
  readonly dim: number;
  /** Number of classes of `logits`, when there are any. */
  readonly classes?: number;
  extract(images: Tensor): ExtractorOutput;
}

/** What an extractor saw of a set of images: features, and class probabilities (softmax of the logits) if any. */
export interface ExtractedSet {
  features: FeatureMatrix;
  probabilities?: FeatureMatrix;
}

/**
 * Gathers an extractor's outputs batch by batch (without recording gradients). Each batch's outputs are read back
 * and freed at once, so memory holds only the features.
 */
export class FeatureCollector {
  private readonly features: Float32Array[] = [];
  private readonly probabilities: Float32Array[] = [];

  constructor(readonly extractor: FeatureExtractor) {}

  async add(images: Tensor): Promise<void> {
    const { extractor } = this;
    const out = noGrad(() => scope(() => {
      const { features, logits } = extractor.extract(images);
      if (features.rank !== 2 || features.shape[1] !== extractor.dim) {
        throw new EngineError(`${extractor.name}: features of shape ${fmtShape(features.shape)}, expected [N, ${extractor.dim}]`);
      }
      return logits ? [features, softmax(logits, 1)] : [features];
    }));
    const [f, p] = await Promise.all(out.map((t) => t.toArray()));
    out.forEach((t) => t.dispose());
    this.features.push(Float32Array.from(f!));
    if (p) this.probabilities.push(Float32Array.from(p));
  }

  result(): ExtractedSet {
    return {
      features: concatRows(this.features, this.extractor.dim),
      probabilities: this.probabilities.length ? concatRows(this.probabilities, this.extractor.classes ?? 0) : undefined,
    };
  }
}

function concatRows(parts: readonly Float32Array[], dim: number): FeatureMatrix {
  const data = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    data.set(p, at);
    at += p.length;
  }
  return { data, count: dim === 0 ? 0 : data.length / dim, dim };
}
