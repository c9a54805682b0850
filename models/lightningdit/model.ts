import * as E from '../../engine/index.js';
import type { Tensor } from '../../engine/index.js';
import { EngineError } from '../../engine/errors.js';
import { Linear, Module, ModuleList, VisionRotaryEmbeddingFast, get2dSincosPosEmbed, init, parameter } from '../../nn/index.js';
import { type GuidanceOptions, guidedVelocity } from '../transport/cfg.js';
import { FinalLayer, LightningDiTBlock } from './block.js';
import { LabelEmbedder, PatchEmbed, TimestepEmbedder } from './embedders.js';

/**
 * LightningDiT (hustvl/LightningDiT `models/lightningdit.py`): a DiT over latent patches, conditioned on t and a
 * class label by adaLN-Zero, with the optional upgrades the paper ablates (qk-norm, SwiGLU, 2-D RoPE, RMSNorm,
 * shift-free adaLN). Parameter and buffer names are the official state-dict keys, so official checkpoints load.
 * The official `use_checkpoint` (activation checkpointing) has no field here: it changes memory use, not results.
 */
export interface LightningDiTConfig {
  /** Latent side (image size / VAE downsampling: 16 for 256² images with VA-VAE f16). */
  inputSize: number;
  patchSize: number;
  inChannels: number;
  hiddenSize: number;
  depth: number;
  numHeads: number;
  mlpRatio: number;
  /** Label dropout for CFG in training; > 0 also adds the null-class row numClasses to the label table. */
  classDropoutProb: number;
  numClasses: number;
  /** Output 2·inChannels channels and keep the first half (DiT's learned-variance head). */
  learnSigma: boolean;
  useQknorm: boolean;
  useSwiglu: boolean;
  useRope: boolean;
  useRmsnorm: boolean;
  woShift: boolean;
}

/** The official constructor's defaults. */
export const DEFAULT_CONFIG: LightningDiTConfig = {
  inputSize: 32,
  patchSize: 2,
  inChannels: 32,
  hiddenSize: 1152,
  depth: 28,
  numHeads: 16,
  mlpRatio: 4,
  classDropoutProb: 0.1,
  numClasses: 1000,
  learnSigma: false,
  useQknorm: false,
  useSwiglu: false,
  useRope: false,
  useRmsnorm: false,
  woShift: false,
};

export class LightningDiT extends Module {
  readonly config: LightningDiTConfig;
  readonly outChannels: number;
  readonly x_embedder: PatchEmbed;
  readonly t_embedder: TimestepEmbedder;
  readonly y_embedder: LabelEmbedder;
  /** The fixed 2-D sin-cos table [1, T, D]: a frozen parameter, as in the official model (saved, counted, EMA'd). */
  readonly pos_embed: Tensor;
  readonly feat_rope: VisionRotaryEmbeddingFast | null;
  readonly blocks: ModuleList<LightningDiTBlock>;
  readonly final_layer: FinalLayer;

  constructor(config: Partial<LightningDiTConfig> = {}) {
    super();
    const cfg = { ...DEFAULT_CONFIG, ...config };
    if (cfg.hiddenSize % cfg.numHeads !== 0) throw new EngineError(`LightningDiT: hidden size ${cfg.hiddenSize} does not split into ${cfg.numHeads} heads`);
    this.config = cfg;
    this.outChannels = cfg.learnSigma ? 2 * cfg.inChannels : cfg.inChannels;
    this.x_embedder = new PatchEmbed(cfg.inputSize, cfg.patchSize, cfg.inChannels, cfg.hiddenSize);
    this.t_embedder = new TimestepEmbedder(cfg.hiddenSize);
    this.y_embedder = new LabelEmbedder(cfg.numClasses, cfg.hiddenSize, cfg.classDropoutProb);
    const grid = this.x_embedder.gridSize;
    this.pos_embed = parameter(E.reshape(get2dSincosPosEmbed(cfg.hiddenSize, grid), [1, grid * grid, cfg.hiddenSize]), { requiresGrad: false });
    // RoPE over the token grid, on half of each head's dims per axis (row half first, then column half).
    this.feat_rope = cfg.useRope ? new VisionRotaryEmbeddingFast(cfg.hiddenSize / cfg.numHeads / 2, grid) : null;
    const flags = { useQknorm: cfg.useQknorm, useSwiglu: cfg.useSwiglu, useRmsnorm: cfg.useRmsnorm, woShift: cfg.woShift };
    this.blocks = new ModuleList(Array.from({ length: cfg.depth }, () => new LightningDiTBlock(cfg.hiddenSize, cfg.numHeads, cfg.mlpRatio, flags)));
    this.final_layer = new FinalLayer(cfg.hiddenSize, cfg.patchSize, this.outChannels, cfg.useRmsnorm);
    this.initializeWeights();
  }

  /** The label meaning "no class", used for the unconditional half of CFG. */
  get nullLabel(): number {
    return this.config.numClasses;
  }

  /**
   * The official initialisation (DiT's): xavier-uniform on every Linear (on the fused qkv and w12 matrices as a
   * whole) with zero biases; the patch-embedding conv xavier-uniform as if it were a Linear [D, C·p·p]; label table
   * and timestep-MLP weights N(0, 0.02); every adaLN output layer and the final linear zeroed (adaLN-Zero: each
   * block starts as the identity and the model outputs 0). Norm weights stay 1; pos_embed and RoPE are fixed.
   */
  initializeWeights(opts: init.InitOptions = {}): void {
    for (const m of this.modules()) {
      if (m instanceof Linear) {
        init.xavierUniform_(m.weight, 1, opts);
        if (m.bias) init.zeros_(m.bias);
      }
    }
    const conv = this.x_embedder.proj;
    E.noGrad(() => init.xavierUniform_(E.reshape(conv.weight, [conv.weight.shape[0]!, -1]), 1, opts));
    init.zeros_(conv.bias!);
    init.normal_(this.y_embedder.embedding_table.weight, 0, 0.02, opts);
    for (const i of [0, 2]) init.normal_((this.t_embedder.mlp.at(i) as Linear).weight, 0, 0.02, opts);
    const zeroLinears = [...this.blocks].map((b) => b.adaLN_modulation.at(-1) as Linear);
    zeroLinears.push(this.final_layer.adaLN_modulation.at(-1) as Linear, this.final_layer.linear);
    for (const linear of zeroLinears) {
      init.zeros_(linear.weight);
      init.zeros_(linear.bias!);
    }
  }

  /** [N, T, p·p·C] → [N, C, H, W]: token (h, w) holds its p×p patch as (row, col, channel), channel fastest. */
  unpatchify(x: Tensor): Tensor {
    const c = this.outChannels;
    const p = this.config.patchSize;
    const side = this.x_embedder.gridSize;
    const patches = E.reshape(x, [x.shape[0]!, side, side, p, p, c]);
    return E.reshape(E.permute(patches, [0, 5, 1, 3, 2, 4]), [x.shape[0]!, c, side * p, side * p]);
  }

  /**
   * x [N, C, H, W] latents, t [N] times in [0, 1] (0 = noise, 1 = data), y [N] int32 labels → velocity
   * [N, C, H, W]. In training mode labels are dropped to the null class with probability classDropoutProb.
   */
  forward(x: Tensor, t: Tensor, y: Tensor): Tensor {
    // The absolute sin-cos position is added even when RoPE is on.
    let h = E.add(this.x_embedder.forward(x), this.pos_embed);
    const c = E.add(this.t_embedder.forward(t), this.y_embedder.forward(y));
    for (const block of this.blocks) h = block.forward(h, c, this.feat_rope ?? undefined);
    const out = this.unpatchify(this.final_layer.forward(h, c));
    return this.config.learnSigma ? E.narrow(out, 1, 0, this.config.inChannels) : out;
  }

  /**
   * The official `forward_with_cfg`: x is the doubled batch [x; x] with labels [y; null]; only channels 0–2 are
   * guided unless `guidedChannels` says otherwise, and with `intervalStart` guidance is off for t < intervalStart.
   */
  forwardWithCfg(x: Tensor, t: Tensor, y: Tensor, cfgScale: number, opts: GuidanceOptions = {}): Tensor {
    return guidedVelocity((xx, tt, yy) => this.forward(xx, tt, yy), x, t, y, cfgScale, opts);
  }
}
