import * as E from '../../engine/index.js';
import type { Tensor } from '../../engine/index.js';
import { EngineError } from '../../engine/errors.js';
import { Conv2d, Embedding, Linear, Module, Sequential, SiLU } from '../../nn/index.js';
import { dropLabels } from '../transport/cfg.js';
import { roundTo } from '../transport/timesteps.js';

/*
 * The three inputs of LightningDiT, each turned into hidden-size vectors (DiT's embedders, with their key names).
 */

/**
 * timm's PatchEmbed (`proj` = Conv2d with kernel = stride = p, then flatten): [N, C, H, W] → [N, (H/p)·(W/p), D],
 * tokens in row-major order (n = row·W/p + col). The input must have the constructed size (timm's strict size).
 */
export class PatchEmbed extends Module {
  readonly proj: Conv2d;
  readonly gridSize: number;

  constructor(
    readonly imgSize: number,
    readonly patchSize: number,
    inChannels: number,
    embedDim: number,
  ) {
    super();
    if (imgSize % patchSize !== 0) throw new EngineError(`PatchEmbed: input size ${imgSize} is not a multiple of the patch size ${patchSize}`);
    this.gridSize = imgSize / patchSize;
    this.proj = new Conv2d(inChannels, embedDim, patchSize, { stride: patchSize });
  }

  get numPatches(): number {
    return this.gridSize * this.gridSize;
  }

  forward(x: Tensor): Tensor {
    if (x.rank !== 4 || x.shape[2] !== this.imgSize || x.shape[3] !== this.imgSize) {
      throw new EngineError(`PatchEmbed: expected input [N, C, ${this.imgSize}, ${this.imgSize}], got [${x.shape.join(', ')}]`);
    }
    return E.transpose(E.flatten(this.proj.forward(x), 2), 1, 2);
  }
}

/**
 * The sinusoidal embedding of t ∈ [0, 1] (used as is, no ×1000): frequencies f_k = exp(−ln(10000)·k/half), k < half,
 * and [cos(t·f) ‖ sin(t·f)] (cos first), zero-padded when `dim` is odd. The official code builds it in float32
 * whatever the model's dtype; here the frequencies are computed with float32 roundings for a float32 t and in
 * float64 for a float64 t (the float64 reference fixtures do the same).
 */
export function timestepEmbedding(t: Tensor, dim: number, maxPeriod = 10000): Tensor {
  const half = Math.floor(dim / 2);
  const r = roundTo(t.dtype);
  const freqs = Array.from({ length: half }, (_, k) => r(Math.exp(r(r(r(-Math.log(maxPeriod)) * k) / half))));
  const args = E.mul(E.unsqueeze(t, 1), E.fromArray(freqs, [1, half], { dtype: t.dtype, backend: t.backend }));
  const embedding = E.cat([E.cos(args), E.sin(args)], -1);
  return dim % 2 ? E.pad(embedding, [0, 1]) : embedding;
}

/** DiT's TimestepEmbedder: t [N] → sinusoidal features (256) → Linear → SiLU → Linear → [N, D] (keys `mlp.0`, `mlp.2`). */
export class TimestepEmbedder extends Module {
  readonly mlp: Sequential;

  constructor(
    hiddenSize: number,
    readonly frequencyEmbeddingSize = 256,
  ) {
    super();
    this.mlp = new Sequential(new Linear(frequencyEmbeddingSize, hiddenSize), new SiLU(), new Linear(hiddenSize, hiddenSize));
  }

  forward(t: Tensor): Tensor {
    return this.mlp.forward(timestepEmbedding(t, this.frequencyEmbeddingSize));
  }
}

/**
 * DiT's LabelEmbedder: a table of numClasses rows, plus the null-class row numClasses when labels are dropped for
 * classifier-free guidance (dropoutProb > 0). Key `embedding_table.weight`. In training mode each label is
 * dropped to the null class with probability dropoutProb.
 */
export class LabelEmbedder extends Module {
  readonly embedding_table: Embedding;

  constructor(
    readonly numClasses: number,
    hiddenSize: number,
    readonly dropoutProb: number,
  ) {
    super();
    this.embedding_table = new Embedding(numClasses + (dropoutProb > 0 ? 1 : 0), hiddenSize);
  }

  forward(labels: Tensor): Tensor {
    const used = this.training && this.dropoutProb > 0 ? dropLabels(labels, this.dropoutProb, this.numClasses) : labels;
    return this.embedding_table.forward(used);
  }
}
