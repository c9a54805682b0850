import { type Tensor, chunk, permute, reshape, scaledDotProductAttention, squeeze, transpose } from '../../engine/index.js';
import { EngineError } from '../../engine/errors.js';
import { Module, type UnaryModule } from '../module.js';
import { Identity } from './activation.js';
import { Dropout } from './dropout.js';
import { Linear } from './linear.js';

export interface AttentionOptions {
  /** Bias on the fused qkv projection (timm's default: false; LightningDiT: true). */
  qkvBias?: boolean;
  /** Makes the per-head normalisation of q and k (timm's qk_norm with its norm_layer); absent: none. */
  qkNorm?: (headDim: number) => UnaryModule;
  projDrop?: number;
}

/**
 * Multi-head self-attention with a fused qkv projection, as timm's `Attention` (and LightningDiT's copy of it),
 * with its submodule names: `qkv`, `q_norm`, `k_norm` (Identity unless qk-norm is on), `proj`. For x [B, N, C]:
 * qkv(x) is split as [B, N, 3, heads, head_dim] into q, k, v [B, heads, N, head_dim]; q and k are normalised, then
 * rotated when a rotary embedding is passed; softmax(q·kᵀ/√head_dim)·v; heads are merged and projected.
 */
export class Attention extends Module {
  readonly headDim: number;
  readonly qkv: Linear;
  readonly q_norm: UnaryModule;
  readonly k_norm: UnaryModule;
  readonly proj: Linear;
  readonly proj_drop: Dropout;

  constructor(
    readonly dim: number,
    readonly numHeads: number,
    { qkvBias = false, qkNorm, projDrop = 0 }: AttentionOptions = {},
  ) {
    super();
    if (!Number.isInteger(numHeads) || numHeads <= 0 || dim % numHeads !== 0) throw new EngineError(`Attention: dim ${dim} must split evenly into ${numHeads} heads`);
    this.headDim = dim / numHeads;
    this.qkv = new Linear(dim, 3 * dim, { bias: qkvBias });
    this.q_norm = qkNorm ? qkNorm(this.headDim) : new Identity();
    this.k_norm = qkNorm ? qkNorm(this.headDim) : new Identity();
    this.proj = new Linear(dim, dim);
    this.proj_drop = new Dropout(projDrop);
  }

  forward(x: Tensor, rope?: UnaryModule): Tensor {
    if (x.rank !== 3 || x.shape[2] !== this.dim) throw new EngineError(`Attention: expected input [B, N, ${this.dim}], got [${x.shape.join(',')}]`);
    const [b, n] = x.shape as [number, number, number];
    const heads = permute(reshape(this.qkv.forward(x), [b, n, 3, this.numHeads, this.headDim]), [2, 0, 3, 1, 4]);
    const [q, k, v] = chunk(heads, 3, 0).map((t) => squeeze(t, 0)) as [Tensor, Tensor, Tensor];
    let qn = this.q_norm.forward(q);
    let kn = this.k_norm.forward(k);
    if (rope) {
      qn = rope.forward(qn);
      kn = rope.forward(kn);
    }
    const attended = scaledDotProductAttention(qn, kn, v);
    return this.proj_drop.forward(this.proj.forward(reshape(transpose(attended, 1, 2), [b, n, this.dim])));
  }
}
