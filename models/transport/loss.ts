import * as E from '../../engine/index.js';
import type { Generator, Tensor } from '../../engine/index.js';
import type { ConditionalForward } from './cfg.js';
import { linearPath } from './path.js';
import { type TimeDistribution, sampleTimesteps } from './timesteps.js';

/**
 * The LightningDiT training objective (official `Transport.training_losses` + train.py), for velocity
 * prediction on the linear path:
 *
 *   x0 ~ N(0, I), t ~ logit-normal (or uniform), x_t = t·x1 + (1 − t)·x0, u = x1 − x0, v = model(x_t, t, y)
 *   mse_i = mean over (C, H, W) of (v − u)²
 *   cos_i = mean over (H, W) of 1 − cos∠(v[i, :, h, w], u[i, :, h, w])      (cosine along channels, eps 1e-8)
 *   loss  = mean_i mse_i + mean_i cos_i                                      (unit weights, no time weighting)
 */
export interface TransportConfig {
  /** Released config: 'logit-normal' (`use_lognorm`). */
  timesteps: TimeDistribution;
  /** Released config: true (`use_cosine_loss`). */
  cosineLoss: boolean;
}

export const RELEASED_TRANSPORT: TransportConfig = { timesteps: 'logit-normal', cosineLoss: true };

export interface TrainingDraws {
  /** The noise x0 (default: a fresh standard normal draw shaped like x1). */
  x0?: Tensor;
  /** The times t, shape [N] (default: drawn from the config's distribution). */
  t?: Tensor;
  generator?: Generator;
}

export interface TrainingTerms {
  t: Tensor;
  x0: Tensor;
  xt: Tensor;
  ut: Tensor;
  pred: Tensor;
  /** Per-sample velocity MSE, shape [N] (what the official run logs as "Train Loss"). */
  mse: Tensor;
  /** Per-sample mean of 1 − cosine similarity, shape [N]; absent when the config has no cosine loss. */
  cos?: Tensor;
  /** The scalar that is differentiated. */
  loss: Tensor;
}

/** Mean over every dim but the batch dim (SiT's `mean_flat`). */
function meanPerSample(x: Tensor): Tensor {
  return E.mean(x, Array.from({ length: x.rank - 1 }, (_, i) => i + 1));
}

export function trainingLosses(model: ConditionalForward, x1: Tensor, y: Tensor, config: TransportConfig, draws: TrainingDraws = {}): TrainingTerms {
  const batch = x1.shape[0]!;
  const t = draws.t ?? sampleTimesteps(batch, config.timesteps, { dtype: x1.dtype, backend: x1.backend, generator: draws.generator });
  const x0 = draws.x0 ?? E.randnLike(x1, { generator: draws.generator });
  const { xt, ut } = linearPath(t, x0, x1);
  const pred = model(xt, t, y);
  const error = E.sub(pred, ut);
  const mse = meanPerSample(E.mul(error, error));
  const cos = config.cosineLoss ? meanPerSample(E.sub(1, E.cosineSimilarity(pred, ut, 1, 1e-8))) : undefined;
  const loss = cos ? E.add(E.mean(mse), E.mean(cos)) : E.mean(mse);
  return { t, x0, xt, ut, pred, mse, cos, loss };
}
