import { type Tensor, cast, cat, fromArray, mul, add, narrow, neg, reshape } from '../../engine/index.js';
import { EngineError } from '../../engine/errors.js';
import { Module } from '../module.js';
import { buffer } from '../parameter.js';

const f32 = Math.fround;

/**
 * (x₀, x₁, x₂, x₃, …) → (−x₁, x₀, −x₃, x₂, …): each adjacent pair turned by 90°, over the last dim
 * (EVA-02's `rotate_half`, which LightningDiT's `models/pos_embed.py` uses).
 */
export function rotateHalf(x: Tensor): Tensor {
  const last = x.shape[x.rank - 1]!;
  if (last % 2 !== 0) throw new EngineError(`rotateHalf: the last dim must be even, got shape [${x.shape.join(',')}]`);
  const pairs = reshape(x, [...x.shape.slice(0, -1), last / 2, 2]);
  const rotated = cat([neg(narrow(pairs, -1, 1, 1)), narrow(pairs, -1, 0, 1)], -1);
  return reshape(rotated, x.shape);
}

/**
 * 2-D axial rotary position embedding exactly as LightningDiT builds it (`VisionRotaryEmbeddingFast`, EVA-02,
 * freqs_for 'lang'), for a grid of side `ptSeqLen` (tokens in row-major order, n = row·L + col) and heads of
 * size 2·dim. Per axis, frequencies f_k = θ^(−2k/dim), k < dim/2, each repeated for an adjacent pair; a token's
 * angle vector is [its row's angles ‖ its column's angles] (length 2·dim). Positions are
 * arange(ftSeqLen)/ftSeqLen·ptSeqLen. The tables are built with float32 roundings at the same steps as the
 * official float32 code and kept as buffers `freqs_cos`, `freqs_sin` [L², 2·dim] (saved in the state dict).
 * forward(t) = t·cos + rotateHalf(t)·sin, for t [..., L², 2·dim].
 */
export class VisionRotaryEmbeddingFast extends Module {
  readonly freqs_cos: Tensor;
  readonly freqs_sin: Tensor;

  constructor(dim: number, ptSeqLen: number, { ftSeqLen = ptSeqLen, theta = 10000 }: { ftSeqLen?: number; theta?: number } = {}) {
    super();
    if (!Number.isInteger(dim) || dim <= 0 || dim % 2 !== 0) throw new EngineError(`VisionRotaryEmbeddingFast: dim must be a positive even integer, got ${dim}`);
    if (!Number.isInteger(ptSeqLen) || ptSeqLen <= 0 || !Number.isInteger(ftSeqLen) || ftSeqLen <= 0) {
      throw new EngineError(`VisionRotaryEmbeddingFast: sequence lengths must be positive integers, got ${ptSeqLen}, ${ftSeqLen}`);
    }
    const freqs = Array.from({ length: dim / 2 }, (_, k) => f32(1 / f32(theta ** f32((2 * k) / dim))));
    const positions = Array.from({ length: ftSeqLen }, (_, i) => f32(f32(i / ftSeqLen) * ptSeqLen));
    // Angles of one axis position, each frequency repeated for its pair: [p·f0, p·f0, p·f1, p·f1, ...].
    const axisAngles = (p: number) => freqs.flatMap((f) => [f32(p * f), f32(p * f)]);
    const width = 2 * dim;
    const cos = new Float32Array(ftSeqLen * ftSeqLen * width);
    const sin = new Float32Array(cos.length);
    for (let r = 0; r < ftSeqLen; r++) {
      for (let c = 0; c < ftSeqLen; c++) {
        const angles = [...axisAngles(positions[r]!), ...axisAngles(positions[c]!)];
        angles.forEach((a, j) => {
          cos[(r * ftSeqLen + c) * width + j] = Math.cos(a);
          sin[(r * ftSeqLen + c) * width + j] = Math.sin(a);
        });
      }
    }
    this.freqs_cos = buffer(fromArray(cos, [ftSeqLen * ftSeqLen, width]));
    this.freqs_sin = buffer(fromArray(sin, [ftSeqLen * ftSeqLen, width]));
  }

  forward(t: Tensor): Tensor {
    return add(mul(t, cast(this.freqs_cos, t.dtype)), mul(rotateHalf(t), cast(this.freqs_sin, t.dtype)));
  }
}
