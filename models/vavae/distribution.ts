import { type Generator, type Tensor, add, chunk, clamp, exp, mul, randn, sub, sum } from '../../engine/index.js';
import { EngineError, fmtShape } from '../../engine/errors.js';
import { shapesEqual } from '../../engine/shape.js';

/**
 * The posterior of the KL-autoencoder (LDM `DiagonalGaussianDistribution`): the moments [B, 2·C, H, W] split
 * along channels into mean and log-variance, the log-variance clamped to [−30, 20] (its gradient is zero where the
 * clamp acts), std = exp(logvar/2), var = exp(logvar).
 */
export class DiagonalGaussianDistribution {
  readonly mean: Tensor;
  readonly logvar: Tensor;
  readonly std: Tensor;
  readonly var: Tensor;

  constructor(readonly parameters: Tensor) {
    if (parameters.rank < 2 || parameters.shape[1]! % 2 !== 0) {
      throw new EngineError(`DiagonalGaussianDistribution: moments must be [B, 2·C, ...], got ${fmtShape(parameters.shape)}`);
    }
    const [mean, logvar] = chunk(parameters, 2, 1) as [Tensor, Tensor];
    this.mean = mean;
    this.logvar = clamp(logvar, -30, 20);
    this.std = exp(mul(this.logvar, 0.5));
    this.var = exp(this.logvar);
  }

  /**
   * mean + std·ε. The noise ε (standard normal, the mean's shape) can be given, which makes the sample a
   * deterministic function of it (for tests and gradient checks); otherwise it is drawn from `generator` (default:
   * the engine's seeded generator), as the official `torch.randn`.
   */
  sample(noise?: Tensor, { generator }: { generator?: Generator } = {}): Tensor {
    if (noise && !shapesEqual(noise.shape, this.mean.shape)) {
      throw new EngineError(`DiagonalGaussianDistribution.sample: noise ${fmtShape(noise.shape)} must have the mean's shape ${fmtShape(this.mean.shape)}`);
    }
    const eps = noise ?? randn(this.mean.shape, { dtype: this.mean.dtype, backend: this.mean.backend, generator });
    return add(this.mean, mul(this.std, eps));
  }

  mode(): Tensor {
    return this.mean;
  }

  /** KL(q ‖ N(0, I)) per sample: ½·Σ_{c,h,w}(mean² + var − 1 − logvar), shape [B]. */
  kl(): Tensor {
    const dims = this.mean.shape.map((_, d) => d).slice(1);
    return mul(sum(sub(sub(add(mul(this.mean, this.mean), this.var), 1), this.logvar), dims), 0.5);
  }
}
