import { type Tensor, add, cat, chunk, expand, mul, narrow, permute, reshape, silu, zeros } from '../../engine/index.js';
import { EngineError, fmtShape } from '../../engine/errors.js';
import { Attention, Conv2d, Dropout, Identity, LayerNorm, Linear, Mlp, Module, ModuleList, SiLU, init, parameter } from '../../nn/index.js';
import { resampleAbsPosEmbed } from './resample.js';

/*
 * timm's VisionTransformer (timm 1.0) in the configuration of the DINOv2 checkpoints
 * (`vit_{small,base,large,giant}_patch14_dinov2.lvd142m`): patch 14, one class token, no register tokens, LayerScale,
 * pre-norm blocks, final LayerNorm, no head, dynamic image size. Parameter names are timm's state-dict keys
 * (`cls_token`, `pos_embed`, `patch_embed.proj.weight`, `blocks.0.attn.qkv.weight`, `blocks.0.ls1.gamma`,
 * `norm.weight`, ...), so the published weights load once converted to safetensors.
 */

export interface VisionTransformerConfig {
  /** The image side the position table was trained for (518 for DINOv2: a 37×37 grid). */
  imgSize: number;
  patchSize: number;
  inChans: number;
  embedDim: number;
  depth: number;
  numHeads: number;
  mlpRatio: number;
  /** The feed-forward: timm's Mlp with exact GELU, or SwiGLUPacked (ViT-g): fc1 to 2·(hidden/2), SiLU(first half) ⊙ second half. */
  mlp: 'gelu' | 'swiglu';
  /** LayerScale's initial value (gamma); null: no LayerScale. */
  initValues: number | null;
  /** LayerNorm eps (timm's ViT: 1e-6). */
  normEps: number;
}

const DINOV2_COMMON = { imgSize: 518, patchSize: 14, inChans: 3, mlpRatio: 4, mlp: 'gelu', initValues: 1e-5, normEps: 1e-6 } as const;

/** timm's registered DINOv2 models. */
export const DINOV2_CONFIGS: Readonly<Record<'vit_small_patch14_dinov2' | 'vit_base_patch14_dinov2' | 'vit_large_patch14_dinov2' | 'vit_giant_patch14_dinov2', VisionTransformerConfig>> = {
  vit_small_patch14_dinov2: { ...DINOV2_COMMON, embedDim: 384, depth: 12, numHeads: 6 },
  vit_base_patch14_dinov2: { ...DINOV2_COMMON, embedDim: 768, depth: 12, numHeads: 12 },
  vit_large_patch14_dinov2: { ...DINOV2_COMMON, embedDim: 1024, depth: 24, numHeads: 16 },
  // mlp_ratio 2.66667·2 makes fc1 1536 → 8192 and fc2 4096 → 1536.
  vit_giant_patch14_dinov2: { ...DINOV2_COMMON, embedDim: 1536, depth: 40, numHeads: 24, mlpRatio: 2.66667 * 2, mlp: 'swiglu' },
};

/** Non-overlapping patches by a conv with kernel = stride = patch; returns [B, h, w, D] (timm's NHWC output for dynamic sizes). */
export class PatchEmbed extends Module {
  readonly proj: Conv2d;

  constructor(readonly patchSize: number, inChans: number, embedDim: number) {
    super();
    this.proj = new Conv2d(inChans, embedDim, patchSize, { stride: patchSize });
  }

  forward(x: Tensor): Tensor {
    return permute(this.proj.forward(x), [0, 2, 3, 1]);
  }
}

/** x·gamma per channel (key `gamma`). */
export class LayerScale extends Module {
  readonly gamma: Tensor;

  constructor(dim: number, initValue: number) {
    super();
    this.gamma = parameter(zeros([dim]));
    init.constant_(this.gamma, initValue);
  }

  forward(x: Tensor): Tensor {
    return mul(x, this.gamma);
  }
}

/** timm's `GluMlp` as `SwiGLUPacked` (gate_last false): fc1 → [a | b], SiLU(a)·b, fc2 from half the hidden width. */
export class GluMlp extends Module {
  readonly fc1: Linear;
  readonly act = new SiLU();
  readonly drop1 = new Dropout(0);
  readonly norm = new Identity();
  readonly fc2: Linear;
  readonly drop2 = new Dropout(0);

  constructor(inFeatures: number, hiddenFeatures: number) {
    super();
    if (hiddenFeatures % 2 !== 0) throw new EngineError(`GluMlp: hidden width ${hiddenFeatures} must be even`);
    this.fc1 = new Linear(inFeatures, hiddenFeatures);
    this.fc2 = new Linear(hiddenFeatures / 2, inFeatures);
  }

  forward(x: Tensor): Tensor {
    const [a, b] = chunk(this.fc1.forward(x), 2, -1) as [Tensor, Tensor];
    return this.fc2.forward(mul(silu(a), b));
  }
}

/** timm's `Block`: x + ls1(attn(norm1(x))), then x + ls2(mlp(norm2(x))). */
export class Block extends Module {
  readonly norm1: LayerNorm;
  readonly attn: Attention;
  readonly ls1: LayerScale | Identity;
  readonly norm2: LayerNorm;
  readonly mlp: Mlp | GluMlp;
  readonly ls2: LayerScale | Identity;

  constructor(c: VisionTransformerConfig) {
    super();
    const scale = () => (c.initValues === null ? new Identity() : new LayerScale(c.embedDim, c.initValues));
    this.norm1 = new LayerNorm(c.embedDim, { eps: c.normEps });
    this.attn = new Attention(c.embedDim, c.numHeads, { qkvBias: true });
    this.ls1 = scale();
    this.norm2 = new LayerNorm(c.embedDim, { eps: c.normEps });
    const hidden = Math.trunc(c.embedDim * c.mlpRatio);
    this.mlp = c.mlp === 'swiglu' ? new GluMlp(c.embedDim, hidden) : new Mlp(c.embedDim, { hiddenFeatures: hidden });
    this.ls2 = scale();
  }

  forward(x: Tensor): Tensor {
    const h = add(x, this.ls1.forward(this.attn.forward(this.norm1.forward(x))));
    return add(h, this.ls2.forward(this.mlp.forward(this.norm2.forward(h))));
  }
}

/**
 * The ViT encoder with timm's `dynamic_img_size=True`: any image whose sides are multiples of the patch works; the
 * position table (trained for imgSize/patch per side) is resampled to the patch grid by antialiased bicubic
 * interpolation on every call, as timm does. Weights start as in timm only in shape (class token and table
 * zero, LayerScale at initValues, layers PyTorch-default): load the published weights for real use.
 */
export class VisionTransformer extends Module {
  readonly cls_token: Tensor;
  readonly pos_embed: Tensor;
  readonly patch_embed: PatchEmbed;
  readonly blocks: ModuleList<Block>;
  readonly norm: LayerNorm;
  readonly gridSize: number;

  constructor(readonly config: VisionTransformerConfig) {
    super();
    if (config.imgSize % config.patchSize !== 0) throw new EngineError(`VisionTransformer: imgSize ${config.imgSize} is not a multiple of the patch ${config.patchSize}`);
    this.gridSize = config.imgSize / config.patchSize;
    this.cls_token = parameter(zeros([1, 1, config.embedDim]));
    this.pos_embed = parameter(zeros([1, 1 + this.gridSize ** 2, config.embedDim]));
    this.patch_embed = new PatchEmbed(config.patchSize, config.inChans, config.embedDim);
    this.blocks = new ModuleList(Array.from({ length: config.depth }, () => new Block(config)));
    this.norm = new LayerNorm(config.embedDim, { eps: config.normEps });
  }

  /** timm's `forward_features`: [B, 1 + h·w, D] tokens (class token first) after the final LayerNorm. */
  forwardFeatures(x: Tensor): Tensor {
    const p = this.config.patchSize;
    if (x.rank !== 4 || x.shape[1] !== this.config.inChans || x.shape[2]! % p !== 0 || x.shape[3]! % p !== 0) {
      throw new EngineError(`VisionTransformer: expected images [B, ${this.config.inChans}, H, W] with H and W multiples of ${p}, got ${fmtShape(x.shape)}`);
    }
    const patches = this.patch_embed.forward(x);
    const [b, h, w, d] = patches.shape as [number, number, number, number];
    const posEmbed = resampleAbsPosEmbed(this.pos_embed, [h, w], [this.gridSize, this.gridSize], 1);
    let tokens = add(cat([expand(this.cls_token, [b, 1, d]), reshape(patches, [b, h * w, d])], 1), posEmbed);
    for (const block of this.blocks) tokens = block.forward(tokens);
    return this.norm.forward(tokens);
  }

  /** The patch tokens as a feature map [B, D, h, w] (the class token dropped), as the VF loss uses them. */
  forwardPatchFeatures(x: Tensor): Tensor {
    const [b, , height, width] = x.shape as [number, number, number, number];
    const p = this.config.patchSize;
    const tokens = this.forwardFeatures(x);
    const d = this.config.embedDim;
    const patches = reshape(narrow(tokens, 1, 1, tokens.shape[1]! - 1), [b, height / p, width / p, d]);
    return permute(patches, [0, 3, 1, 2]);
  }
}

export function createDinov2(name: keyof typeof DINOV2_CONFIGS, overrides: Partial<VisionTransformerConfig> = {}): VisionTransformer {
  return new VisionTransformer({ ...DINOV2_CONFIGS[name], ...overrides });
}
