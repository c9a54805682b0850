import { type Tensor, add, clone, mul } from '../../engine/index.js';
import { EngineError } from '../../engine/errors.js';
import { type ParamGroup, type ParamGroupSpec, type ParamState, Optimizer, checkRange, replaceState } from './optimizer.js';

export interface SGDOptions {
  lr: number;
  momentum: number;
  dampening: number;
  weightDecay: number;
  nesterov: boolean;
}

/**
 * Stochastic gradient descent with PyTorch's exact update (`torch.optim.SGD`):
 *   d ← g + λ·θ
 *   b ← d on the first step, else μ·b + (1 − τ)·d      (momentum μ, dampening τ)
 *   d ← d + μ·b with Nesterov, else b
 *   θ ← θ − lr·d
 */
export class SGD extends Optimizer<SGDOptions> {
  constructor(params: readonly Tensor[] | readonly ParamGroupSpec<SGDOptions>[], options: Partial<SGDOptions> & { lr: number }) {
    super(params, { momentum: 0, dampening: 0, weightDecay: 0, nesterov: false, ...options });
  }

  protected validate({ lr, momentum, dampening, weightDecay, nesterov }: ParamGroup<SGDOptions>): void {
    checkRange('SGD', 'learning rate', lr, lr >= 0);
    checkRange('SGD', 'momentum', momentum, momentum >= 0);
    checkRange('SGD', 'dampening', dampening, true);
    checkRange('SGD', 'weight decay', weightDecay, weightDecay >= 0);
    if (nesterov && (momentum <= 0 || dampening !== 0)) throw new EngineError('SGD: Nesterov momentum requires a momentum and zero dampening');
  }

  protected update(param: Tensor, grad: Tensor, group: ParamGroup<SGDOptions>, state: ParamState): Tensor {
    const { lr, momentum, dampening, weightDecay, nesterov } = group;
    let d = weightDecay !== 0 ? add(grad, mul(param, weightDecay)) : grad;
    if (momentum !== 0) {
      const previous = state.tensors.momentum_buffer;
      const b = replaceState(state, 'momentum_buffer', previous ? add(mul(previous, momentum), mul(d, 1 - dampening)) : clone(d));
      d = nesterov ? add(d, mul(b, momentum)) : b;
    }
    return add(param, mul(d, -lr));
  }
}
