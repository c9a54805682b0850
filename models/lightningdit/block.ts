import * as E from '../../engine/index.js';
import type { Tensor } from '../../engine/index.js';
import { Attention, GELU, LayerNorm, Linear, Mlp, Module, RMSNorm, Sequential, SiLU, SwiGLUFFN, type UnaryModule } from '../../nn/index.js';

/*
 * The transformer block and the final layer of LightningDiT, both conditioned by adaLN on c = t_emb + y_emb.
 */

/** h·(1 + scale) + shift, with scale and shift [N, D] broadcast over the tokens of h [N, T, D]; no shift when absent. */
export function modulate(h: Tensor, shift: Tensor | null, scale: Tensor): Tensor {
  const scaled = E.mul(h, E.unsqueeze(E.add(1, scale), 1));
  return shift ? E.add(scaled, E.unsqueeze(shift, 1)) : scaled;
}

export interface BlockFlags {
  useQknorm: boolean;
  useSwiglu: boolean;
  useRmsnorm: boolean;
  woShift: boolean;
}

/** The SwiGLU hidden width: int(2/3 · int(mlpRatio·D)), not rounded to a multiple (3072 for XL's D = 1152). */
export function swigluHiddenSize(hiddenSize: number, mlpRatio: number): number {
  return Math.trunc((2 / 3) * Math.trunc(hiddenSize * mlpRatio));
}

/** RMSNorm(D) with a learnable weight when use_rmsnorm, else LayerNorm(D) without affine; eps 1e-6 either way. */
function hiddenNorm(hiddenSize: number, useRmsnorm: boolean): UnaryModule {
  return useRmsnorm ? new RMSNorm(hiddenSize, { eps: 1e-6 }) : new LayerNorm(hiddenSize, { eps: 1e-6, elementwiseAffine: false });
}

/**
 * LightningDiTBlock. With (shift, scale, gate) × (msa, mlp) = adaLN_modulation(c) chunked in that order:
 *
 *   x ← x + gate_msa ⊙ Attn(modulate(norm1(x), shift_msa, scale_msa), rope)
 *   x ← x + gate_mlp ⊙ FFN(modulate(norm2(x), shift_mlp, scale_mlp))
 *
 * woShift drops both shifts (adaLN outputs 4D: scale_msa, gate_msa, scale_mlp, gate_mlp). Attention has a qkv bias;
 * qk-norm (useQknorm) is RMSNorm(head_dim) with useRmsnorm, else LayerNorm(head_dim) with affine and eps 1e-5.
 * The FFN is SwiGLU with hidden int(2/3·int(mlpRatio·D)) (useSwiglu), else timm's Mlp with tanh-GELU.
 */
export class LightningDiTBlock extends Module {
  readonly norm1: UnaryModule;
  readonly norm2: UnaryModule;
  readonly attn: Attention;
  readonly mlp: UnaryModule;
  readonly adaLN_modulation: Sequential;

  constructor(
    hiddenSize: number,
    numHeads: number,
    mlpRatio: number,
    readonly flags: BlockFlags,
  ) {
    super();
    this.norm1 = hiddenNorm(hiddenSize, flags.useRmsnorm);
    this.norm2 = hiddenNorm(hiddenSize, flags.useRmsnorm);
    const qkNorm = (headDim: number): UnaryModule => (flags.useRmsnorm ? new RMSNorm(headDim, { eps: 1e-6 }) : new LayerNorm(headDim));
    this.attn = new Attention(hiddenSize, numHeads, { qkvBias: true, qkNorm: flags.useQknorm ? qkNorm : undefined });
    this.mlp = flags.useSwiglu
      ? new SwiGLUFFN(hiddenSize, swigluHiddenSize(hiddenSize, mlpRatio))
      : new Mlp(hiddenSize, { hiddenFeatures: Math.trunc(hiddenSize * mlpRatio), actLayer: () => new GELU('tanh') });
    this.adaLN_modulation = new Sequential(new SiLU(), new Linear(hiddenSize, (flags.woShift ? 4 : 6) * hiddenSize));
  }

  forward(x: Tensor, c: Tensor, rope?: UnaryModule): Tensor {
    const chunks = E.chunk(this.adaLN_modulation.forward(c), this.flags.woShift ? 4 : 6, 1);
    const [shiftMsa, scaleMsa, gateMsa, shiftMlp, scaleMlp, gateMlp] = this.flags.woShift
      ? [null, chunks[0]!, chunks[1]!, null, chunks[2]!, chunks[3]!]
      : (chunks as [Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]);
    const attended = this.attn.forward(modulate(this.norm1.forward(x), shiftMsa, scaleMsa), rope);
    const h = E.add(x, E.mul(E.unsqueeze(gateMsa, 1), attended));
    const fed = this.mlp.forward(modulate(this.norm2.forward(h), shiftMlp, scaleMlp));
    return E.add(h, E.mul(E.unsqueeze(gateMlp, 1), fed));
  }
}

/** The final layer: (shift, scale) = adaLN_modulation(c); linear(modulate(norm_final(x), shift, scale)) → [N, T, p·p·C_out]. */
export class FinalLayer extends Module {
  readonly norm_final: UnaryModule;
  readonly linear: Linear;
  readonly adaLN_modulation: Sequential;

  constructor(hiddenSize: number, patchSize: number, outChannels: number, useRmsnorm: boolean) {
    super();
    this.norm_final = hiddenNorm(hiddenSize, useRmsnorm);
    this.linear = new Linear(hiddenSize, patchSize * patchSize * outChannels);
    this.adaLN_modulation = new Sequential(new SiLU(), new Linear(hiddenSize, 2 * hiddenSize));
  }

  forward(x: Tensor, c: Tensor): Tensor {
    const [shift, scale] = E.chunk(this.adaLN_modulation.forward(c), 2, 1);
    return this.linear.forward(modulate(this.norm_final.forward(x), shift!, scale!));
  }
}
