import { type Tensor, add, div, mul, sqrt, sub, zerosLike } from '../../engine/index.js';
import { type ParamGroup, type ParamGroupSpec, type ParamState, Optimizer, checkRange, replaceState } from './optimizer.js';

export interface AdamOptions {
  lr: number;
  betas: readonly [number, number];
  eps: number;
  weightDecay: number;
}

/**
 * `end` blended into `start` by `weight`, in the two forms PyTorch's `lerp` uses (the one that rounds better
 * for the weight), so the moments round as `exp_avg.lerp_(grad, 1 − β1)` does.
 */
function lerp(start: Tensor, end: Tensor, weight: number): Tensor {
  return weight < 0.5 ? add(start, mul(sub(end, start), weight)) : sub(end, mul(sub(end, start), 1 - weight));
}

/**
 * Adam with PyTorch's exact update (`torch.optim.Adam`, single-tensor path), for step t:
 *   g ← g + λ·θ                          (Adam's L2 weight decay; AdamW instead decays θ ← θ·(1 − lr·λ) first)
 *   m ← m + (1 − β1)·(g − m)             (lerp)
 *   v ← β2·v + (1 − β2)·g·g
 *   θ ← θ − (lr / (1 − β1ᵗ)) · m / (√v / √(1 − β2ᵗ) + ε)
 */
export class Adam extends Optimizer<AdamOptions> {
  /** Whether weight decay is decoupled from the gradient (AdamW) or added to it (Adam's L2). */
  protected readonly decoupled: boolean = false;

  constructor(params: readonly Tensor[] | readonly ParamGroupSpec<AdamOptions>[], options: Partial<AdamOptions> = {}) {
    super(params, { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, ...options });
  }

  protected validate({ lr, betas: [b1, b2], eps, weightDecay }: ParamGroup<AdamOptions>): void {
    const name = this.constructor.name;
    checkRange(name, 'learning rate', lr, lr >= 0);
    checkRange(name, 'beta1', b1, b1 >= 0 && b1 < 1);
    checkRange(name, 'beta2', b2, b2 >= 0 && b2 < 1);
    checkRange(name, 'epsilon', eps, eps >= 0);
    checkRange(name, 'weight decay', weightDecay, weightDecay >= 0);
  }

  protected update(param: Tensor, grad: Tensor, group: ParamGroup<AdamOptions>, state: ParamState): Tensor {
    const { lr, betas: [b1, b2], eps, weightDecay } = group;
    let theta = param;
    let g = grad;
    if (weightDecay !== 0) {
      if (this.decoupled) theta = mul(param, 1 - lr * weightDecay);
      else g = add(g, mul(param, weightDecay));
    }
    const m = replaceState(state, 'exp_avg', lerp(state.tensors.exp_avg ?? zerosLike(param), g, 1 - b1));
    const v = replaceState(state, 'exp_avg_sq', add(mul(state.tensors.exp_avg_sq ?? zerosLike(param), b2), mul(mul(g, 1 - b2), g)));
    const stepSize = lr / (1 - b1 ** state.step);
    const denom = add(div(sqrt(v), Math.sqrt(1 - b2 ** state.step)), eps);
    return add(theta, mul(div(m, denom), -stepSize));
  }
}

/**
 * AdamW (Loshchilov & Hutter), PyTorch's `torch.optim.AdamW`: Adam whose weight decay shrinks the parameter
 * directly, θ ← θ·(1 − lr·λ), instead of entering the moments. Default weight decay 0.01.
 */
export class AdamW extends Adam {
  protected override readonly decoupled: boolean = true;

  constructor(params: readonly Tensor[] | readonly ParamGroupSpec<AdamOptions>[], options: Partial<AdamOptions> = {}) {
    super(params, { weightDecay: 0.01, ...options });
  }
}
