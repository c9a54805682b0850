import { type Tensor, chunk, mul, silu } from '../../engine/index.js';
import { Module } from '../module.js';
import { Linear } from './linear.js';

/**
 * The SwiGLU feed-forward of LightningDiT's `models/swiglu_ffn.py` (DINOv2's `SwiGLUFFN`): one fused Linear `w12`
 * (in → 2·hidden), split into halves [a | b], hidden = SiLU(a) ⊙ b (the first half is activated), then `w3`
 * (hidden → out). Both Linears have biases by default. LightningDiT passes hidden = int(2/3 · mlp_ratio · D),
 * not rounded to a multiple.
 */
export class SwiGLUFFN extends Module {
  readonly w12: Linear;
  readonly w3: Linear;

  constructor(inFeatures: number, hiddenFeatures = inFeatures, outFeatures = inFeatures, { bias = true } = {}) {
    super();
    this.w12 = new Linear(inFeatures, 2 * hiddenFeatures, { bias });
    this.w3 = new Linear(hiddenFeatures, outFeatures, { bias });
  }

  forward(x: Tensor): Tensor {
    const [a, b] = chunk(this.w12.forward(x), 2, -1);
    return this.w3.forward(mul(silu(a!), b!));
  }
}
