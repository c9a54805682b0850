import { type Tensor, add, avgPool2d, permute, reshape, scaledDotProductAttention, silu, upsampleNearest } from '../../engine/index.js';
import { Conv2d, Dropout, GroupNorm, Module } from '../../nn/index.js';

/*
 * The layers of the LDM autoencoder (LightningDiT `vavae/ldm/modules/diffusionmodules/model.py`, identical to
 * `tokenizer/autoencoder.py`), with the official submodule names. No time embedding (temb_ch = 0).
 */

/** The official `Normalize`: GroupNorm with eps 1e-6 and affine parameters (32 groups unless the config says otherwise). */
export function normalize(channels: number, numGroups: number): GroupNorm {
  return new GroupNorm(numGroups, channels, { eps: 1e-6 });
}

/**
 * h = conv1(swish(norm1(x))); h = conv2(dropout(swish(norm2(h)))); out = shortcut(x) + h, where the shortcut is
 * the 1×1 `nin_shortcut` when the channel count changes and the identity otherwise.
 */
export class ResnetBlock extends Module {
  readonly norm1: GroupNorm;
  readonly conv1: Conv2d;
  readonly norm2: GroupNorm;
  readonly dropout: Dropout;
  readonly conv2: Conv2d;
  readonly nin_shortcut: Conv2d | undefined;

  constructor(inChannels: number, outChannels: number, { dropout, numGroups }: { dropout: number; numGroups: number }) {
    super();
    this.norm1 = normalize(inChannels, numGroups);
    this.conv1 = new Conv2d(inChannels, outChannels, 3, { padding: 1 });
    this.norm2 = normalize(outChannels, numGroups);
    this.dropout = new Dropout(dropout);
    this.conv2 = new Conv2d(outChannels, outChannels, 3, { padding: 1 });
    this.nin_shortcut = inChannels !== outChannels ? new Conv2d(inChannels, outChannels, 1) : undefined;
  }

  forward(x: Tensor): Tensor {
    const h1 = this.conv1.forward(silu(this.norm1.forward(x)));
    const h2 = this.conv2.forward(this.dropout.forward(silu(this.norm2.forward(h1))));
    return add(this.nin_shortcut ? this.nin_shortcut.forward(x) : x, h2);
  }
}

/**
 * Single-head self-attention over all H·W positions, with 1×1 convolutions for q, k, v and the output projection:
 * out = x + proj_out(softmax_j(q_i·k_j / √C) v_j).
 */
export class AttnBlock extends Module {
  readonly norm: GroupNorm;
  readonly q: Conv2d;
  readonly k: Conv2d;
  readonly v: Conv2d;
  readonly proj_out: Conv2d;

  constructor(readonly channels: number, { numGroups }: { numGroups: number }) {
    super();
    this.norm = normalize(channels, numGroups);
    this.q = new Conv2d(channels, channels, 1);
    this.k = new Conv2d(channels, channels, 1);
    this.v = new Conv2d(channels, channels, 1);
    this.proj_out = new Conv2d(channels, channels, 1);
  }

  forward(x: Tensor): Tensor {
    const [b, c, h, w] = x.shape as [number, number, number, number];
    const hn = this.norm.forward(x);
    // [B, C, H, W] → [B, H·W, C]: one token per position.
    const tokens = (conv: Conv2d) => permute(reshape(conv.forward(hn), [b, c, h * w]), [0, 2, 1]);
    const attended = scaledDotProductAttention(tokens(this.q), tokens(this.k), tokens(this.v));
    return add(x, this.proj_out.forward(reshape(permute(attended, [0, 2, 1]), [b, c, h, w])));
  }
}

/**
 * Halves the sides. With a conv: zero-pad the right and bottom by one (PyTorch's conv cannot pad asymmetrically,
 * so the official code pads (0, 1, 0, 1) first), then a 3×3 conv with stride 2 and no padding. Without: 2×2
 * average pooling.
 */
export class Downsample extends Module {
  readonly conv: Conv2d | undefined;

  constructor(channels: number, withConv: boolean) {
    super();
    // Padding [top, bottom, left, right] = [0, 1, 0, 1]: the official pad (0, 1, 0, 1) folded into the conv.
    this.conv = withConv ? new Conv2d(channels, channels, 3, { stride: 2, padding: [0, 1, 0, 1] }) : undefined;
  }

  forward(x: Tensor): Tensor {
    return this.conv ? this.conv.forward(x) : avgPool2d(x, 2, 2);
  }
}

/** Doubles the sides by nearest-neighbour repetition, then (with a conv) a 3×3 conv with padding 1. */
export class Upsample extends Module {
  readonly conv: Conv2d | undefined;

  constructor(channels: number, withConv: boolean) {
    super();
    this.conv = withConv ? new Conv2d(channels, channels, 3, { padding: 1 }) : undefined;
  }

  forward(x: Tensor): Tensor {
    const up = upsampleNearest(x, 2);
    return this.conv ? this.conv.forward(up) : up;
  }
}
