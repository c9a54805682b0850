import { type Generator, type Tensor, lt, mul, rand } from '../../engine/index.js';
import { EngineError } from '../../engine/errors.js';
import { Module } from '../module.js';

/**
 * `nn.Dropout(p)`: in training, each element is zeroed with probability p and the survivors are scaled by
 * 1/(1 − p), so the expectation is unchanged; in eval mode (or with p = 0) it is the identity. The mask comes from
 * the engine's seeded generator (the default one unless `generator` is given).
 */
export class Dropout extends Module {
  private readonly generator?: Generator;

  constructor(
    readonly p = 0.5,
    { generator }: { generator?: Generator } = {},
  ) {
    super();
    this.generator = generator;
    if (!(p >= 0 && p <= 1)) throw new EngineError(`Dropout: probability must lie in [0, 1], got ${p}`);
  }

  forward(x: Tensor): Tensor {
    if (!this.training || this.p === 0) return x;
    if (this.p === 1) return mul(x, 0);
    const keep = lt(rand(x.shape, { dtype: x.dtype, backend: x.backend, generator: this.generator }), 1 - this.p);
    return mul(x, mul(keep, 1 / (1 - this.p)));
  }
}
