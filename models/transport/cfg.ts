import * as E from '../../engine/index.js';
import type { Generator, Tensor } from '../../engine/index.js';

/**
 * Classifier-free guidance (CFG), both halves of it: training drops labels to a null class so that one model
 * learns the conditional and the unconditional velocity; sampling blends the two.
 */

/**
 * Each label is replaced by `nullLabel` independently with probability `prob` (DiT's LabelEmbedder.token_drop:
 * `rand(N) < prob`). The official model does this in train mode only.
 */
export function dropLabels(labels: Tensor, prob: number, nullLabel: number, generator?: Generator): Tensor {
  const dropped = E.lt(E.rand([labels.shape[0]!], { backend: labels.backend, generator }), prob);
  return E.where(dropped, nullLabel, labels);
}

export interface GuidanceOptions {
  /**
   * The CFG interval (official `cfg_interval=True, cfg_interval_start`): guidance only where t ≥ intervalStart,
   * the conditional velocity below it. Compared with the (shifted) t the model receives. Omitted: guidance at every t.
   */
  intervalStart?: number;
  /**
   * How many leading channels are guided. The official code guides only channels 0–2 (DiT legacy, kept "for
   * exact reproducibility"; the released FIDs and cfg scales depend on it), so 3 is the default. 'all' is
   * standard CFG, which the official code only has as a commented-out line.
   */
  guidedChannels?: number | 'all';
}

/** A conditional velocity model: (x [N, C, H, W], t [N], labels [N] int32) → velocity [N, C, H, W]. */
export type ConditionalForward = (x: Tensor, t: Tensor, y: Tensor) => Tensor;

/**
 * DiT's `forward_with_cfg`, exactly. `x` is a doubled batch [x_a; x_b] of which only the first half is used: the
 * model sees [x_a; x_a] with labels y = [y_cond; y_null]. On the guided channels the result is
 * g = v_uncond + scale·(v_cond − v_uncond) (or v_cond outside the interval), returned for both halves; the other
 * channels keep the raw model output, conditional in the first half and unconditional in the second.
 */
export function guidedVelocity(forward: ConditionalForward, x: Tensor, t: Tensor, y: Tensor, scale: number, opts: GuidanceOptions = {}): Tensor {
  const batch = x.shape[0]!;
  if (batch % 2 !== 0) throw new RangeError(`guidedVelocity: the batch must be [conditional; unconditional] halves, got ${batch} samples`);
  const half = E.narrow(x, 0, 0, batch / 2);
  const out = forward(E.cat([half, half], 0), t, y);
  const channels = out.shape[1]!;
  const guided = opts.guidedChannels === 'all' ? channels : (opts.guidedChannels ?? 3);
  const [cond, uncond] = E.chunk(E.narrow(out, 1, 0, guided), 2, 0);
  let g = E.add(uncond!, E.mul(E.sub(cond!, uncond!), scale));
  if (opts.intervalStart !== undefined) {
    const beforeInterval = E.lt(E.reshape(E.narrow(t, 0, 0, 1), []), opts.intervalStart);
    g = E.where(beforeInterval, cond!, g);
  }
  const both = E.cat([g, g], 0);
  return guided === channels ? both : E.cat([both, E.narrow(out, 1, guided, channels - guided)], 1);
}
