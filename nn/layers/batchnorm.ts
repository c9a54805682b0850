import { type Tensor, add, cast, div, mean, mul, noGrad, ones, reshape, rsqrt, scope, sub, variance, zeros } from '../../engine/index.js';
import { EngineError } from '../../engine/errors.js';
import { assign } from '../inplace.js';
import { Module } from '../module.js';
import { buffer, parameter } from '../parameter.js';

export interface BatchNormOptions {
  eps?: number;
  /**
   * Weight of the new batch in the running averages: running ← (1 − momentum)·running + momentum·batch. `null`
   * gives PyTorch's cumulative moving average (momentum 1/num_batches_tracked).
   */
  momentum?: number | null;
  affine?: boolean;
  /** Keep running statistics (buffers) and use them in eval mode; without them every call uses batch statistics. */
  trackRunningStats?: boolean;
}

/**
 * `nn.BatchNorm2d(numFeatures)` over x [N, C, H, W], with PyTorch's keys `weight`, `bias`, `running_mean`,
 * `running_var`, `num_batches_tracked`.
 *
 * Training mode normalises each channel with the batch's mean and **biased** variance (over N·H·W values), and
 * updates the running averages with the batch mean and the **unbiased** variance (× n/(n − 1)), as PyTorch does.
 * Eval mode normalises with the running averages. The update happens in place, outside autograd.
 */
export class BatchNorm2d extends Module {
  readonly weight: Tensor | null;
  readonly bias: Tensor | null;
  readonly running_mean: Tensor | null;
  readonly running_var: Tensor | null;
  readonly num_batches_tracked: Tensor | null;
  readonly eps: number;
  readonly momentum: number | null;

  constructor(
    readonly numFeatures: number,
    { eps = 1e-5, momentum = 0.1, affine = true, trackRunningStats = true }: BatchNormOptions = {},
  ) {
    super();
    if (!Number.isInteger(numFeatures) || numFeatures <= 0) throw new EngineError(`BatchNorm2d: numFeatures must be a positive integer, got ${numFeatures}`);
    this.eps = eps;
    this.momentum = momentum;
    this.weight = affine ? parameter(ones([numFeatures])) : null;
    this.bias = affine ? parameter(zeros([numFeatures])) : null;
    this.running_mean = trackRunningStats ? buffer(zeros([numFeatures])) : null;
    this.running_var = trackRunningStats ? buffer(ones([numFeatures])) : null;
    this.num_batches_tracked = trackRunningStats ? buffer(zeros([], { dtype: 'int32' })) : null;
  }

  forward(x: Tensor): Tensor {
    if (x.rank !== 4 || x.shape[1] !== this.numFeatures) {
      throw new EngineError(`BatchNorm2d: expected input [N, ${this.numFeatures}, H, W], got [${x.shape.join(', ')}]`);
    }
    const perChannel = [1, this.numFeatures, 1, 1];
    const useBatchStats = this.training || !this.running_mean;
    let centre: Tensor;
    let spread: Tensor;
    if (useBatchStats) {
      const count = x.shape[0]! * x.shape[2]! * x.shape[3]!;
      if (this.training && count <= 1) throw new EngineError(`BatchNorm2d: expected more than 1 value per channel when training, got input [${x.shape.join(', ')}]`);
      centre = mean(x, [0, 2, 3], true);
      spread = variance(x, [0, 2, 3], { correction: 0, keepdim: true });
      if (this.training && this.running_mean) this.updateRunningStats(centre, spread, count);
    } else {
      centre = reshape(this.running_mean!, perChannel);
      spread = reshape(this.running_var!, perChannel);
    }
    const normalised = mul(sub(x, centre), rsqrt(add(spread, this.eps)));
    const scaled = this.weight ? mul(normalised, reshape(this.weight, perChannel)) : normalised;
    return this.bias ? add(scaled, reshape(this.bias, perChannel)) : scaled;
  }

  /** PyTorch's update: running ← momentum·batch + (1 − momentum)·running, with the unbiased batch variance. */
  private updateRunningStats(batchMean: Tensor, batchVariance: Tensor, count: number): void {
    noGrad(() =>
      scope(() => {
        const batches = add(this.num_batches_tracked!, 1);
        assign(this.num_batches_tracked!, batches);
        // Without a momentum, the running values are the plain averages over every batch so far.
        const m = this.momentum ?? div(1, cast(batches, this.running_mean!.dtype));
        const keep = typeof m === 'number' ? 1 - m : sub(1, m);
        const blend = (running: Tensor, batch: Tensor) => add(mul(reshape(batch, [this.numFeatures]), m), mul(running, keep));
        assign(this.running_mean!, blend(this.running_mean!, batchMean));
        assign(this.running_var!, blend(this.running_var!, mul(batchVariance, count / (count - 1))));
      }),
    );
  }
}
