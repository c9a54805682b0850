import { type Tensor, gelu, relu, silu } from '../../engine/index.js';
import { Module } from '../module.js';

/* Activations as modules, for places where a layer is expected (Sequential, timm's act_layer). No parameters. */

/** `nn.GELU(approximate)`: exact (erf) by default, or the tanh approximation. */
export class GELU extends Module {
  constructor(readonly approximate: 'none' | 'tanh' = 'none') {
    super();
  }
  forward(x: Tensor): Tensor {
    return gelu(x, this.approximate);
  }
}

/** `nn.SiLU`: x·σ(x) (swish). */
export class SiLU extends Module {
  forward(x: Tensor): Tensor {
    return silu(x);
  }
}

export class ReLU extends Module {
  forward(x: Tensor): Tensor {
    return relu(x);
  }
}

/** `nn.Identity`: returns its input (a placeholder that keeps module names where an optional layer is off). */
export class Identity extends Module {
  forward(x: Tensor): Tensor {
    return x;
  }
}
