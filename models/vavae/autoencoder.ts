import { type Tensor, silu } from '../../engine/index.js';
import { Conv2d, type GroupNorm, Module, ModuleList } from '../../nn/index.js';
import { AttnBlock, Downsample, ResnetBlock, Upsample, normalize } from './blocks.js';
import { type AutoencoderConfig, type DDConfig, checkConfig } from './config.js';
import { DiagonalGaussianDistribution } from './distribution.js';

/*
 * The LDM KL-autoencoder that VA-VAE trains (LightningDiT `vavae/ldm/modules/diffusionmodules/model.py` Encoder
 * and Decoder, `tokenizer/autoencoder.py` AutoencoderKL). Submodule names follow the official code, so state-dict
 * keys are the official ones (`encoder.down.0.block.0.norm1.weight`, `decoder.up.1.upsample.conv.bias`, ...).
 */

/** One resolution level: ResnetBlocks, an AttnBlock after each where the side is an attention resolution, and a resampler. */
class Level extends Module {
  readonly block = new ModuleList<ResnetBlock>();
  readonly attn = new ModuleList<AttnBlock>();

  /** Runs the blocks, each followed by its AttnBlock when the level has them. */
  protected blocks(x: Tensor): Tensor {
    let h = x;
    for (let i = 0; i < this.block.length; i++) {
      h = this.block.at(i).forward(h);
      if (this.attn.length > 0) h = this.attn.at(i).forward(h);
    }
    return h;
  }
}

class DownLevel extends Level {
  downsample: Downsample | undefined;

  forward(x: Tensor): Tensor {
    const h = this.blocks(x);
    return this.downsample ? this.downsample.forward(h) : h;
  }
}

class UpLevel extends Level {
  upsample: Upsample | undefined;

  forward(x: Tensor): Tensor {
    const h = this.blocks(x);
    return this.upsample ? this.upsample.forward(h) : h;
  }
}

/** The middle of both halves: ResnetBlock, AttnBlock, ResnetBlock at the lowest resolution. */
class Mid extends Module {
  readonly block_1: ResnetBlock;
  readonly attn_1: AttnBlock;
  readonly block_2: ResnetBlock;

  constructor(channels: number, opts: { dropout: number; numGroups: number }) {
    super();
    this.block_1 = new ResnetBlock(channels, channels, opts);
    this.attn_1 = new AttnBlock(channels, opts);
    this.block_2 = new ResnetBlock(channels, channels, opts);
  }

  forward(x: Tensor): Tensor {
    return this.block_2.forward(this.attn_1.forward(this.block_1.forward(x)));
  }
}

/**
 * conv_in → per level (side r, from `resolution` down): numResBlocks ResnetBlocks to ch·chMult[i] channels (each
 * followed by an AttnBlock when r ∈ attnResolutions), then Downsample except at the last level → mid → norm_out →
 * swish → conv_out to 2·zChannels (doubleZ) or zChannels.
 */
export class Encoder extends Module {
  readonly conv_in: Conv2d;
  readonly down = new ModuleList<DownLevel>();
  readonly mid: Mid;
  readonly norm_out: GroupNorm;
  readonly conv_out: Conv2d;

  constructor(readonly config: DDConfig) {
    super();
    const { ch, chMult, numResBlocks, attnResolutions, dropout, numGroups } = config;
    const opts = { dropout, numGroups };
    this.conv_in = new Conv2d(config.inChannels, ch, 3, { padding: 1 });
    let side = config.resolution;
    let channels = ch;
    chMult.forEach((mult, i) => {
      const level = new DownLevel();
      for (let j = 0; j < numResBlocks; j++) {
        level.block.push(new ResnetBlock(channels, ch * mult, opts));
        channels = ch * mult;
        if (attnResolutions.includes(side)) level.attn.push(new AttnBlock(channels, opts));
      }
      if (i !== chMult.length - 1) {
        level.downsample = new Downsample(channels, config.resampWithConv);
        side = Math.floor(side / 2);
      }
      this.down.push(level);
    });
    this.mid = new Mid(channels, opts);
    this.norm_out = normalize(channels, numGroups);
    this.conv_out = new Conv2d(channels, config.doubleZ ? 2 * config.zChannels : config.zChannels, 3, { padding: 1 });
  }

  forward(x: Tensor): Tensor {
    let h = this.conv_in.forward(x);
    for (const level of this.down) h = level.forward(h);
    h = this.mid.forward(h);
    return this.conv_out.forward(silu(this.norm_out.forward(h)));
  }
}

/**
 * conv_in (zChannels → ch·chMult[-1]) → mid → per level from the lowest resolution up: numResBlocks + 1
 * ResnetBlocks to ch·chMult[i] (with AttnBlocks at attention resolutions), then Upsample except at level 0 →
 * norm_out → swish → conv_out to outCh. No tanh. `up` is indexed by level: `up.0` is full resolution, run last.
 */
export class Decoder extends Module {
  readonly conv_in: Conv2d;
  readonly mid: Mid;
  readonly up: ModuleList<UpLevel>;
  readonly norm_out: GroupNorm;
  readonly conv_out: Conv2d;

  constructor(readonly config: DDConfig) {
    super();
    const { ch, chMult, numResBlocks, attnResolutions, dropout, numGroups } = config;
    const opts = { dropout, numGroups };
    let channels = ch * chMult.at(-1)!;
    let side = Math.floor(config.resolution / 2 ** (chMult.length - 1));
    this.conv_in = new Conv2d(config.zChannels, channels, 3, { padding: 1 });
    this.mid = new Mid(channels, opts);
    const levels: UpLevel[] = [];
    for (let i = chMult.length - 1; i >= 0; i--) {
      const level = new UpLevel();
      for (let j = 0; j <= numResBlocks; j++) {
        level.block.push(new ResnetBlock(channels, ch * chMult[i]!, opts));
        channels = ch * chMult[i]!;
        if (attnResolutions.includes(side)) level.attn.push(new AttnBlock(channels, opts));
      }
      if (i !== 0) {
        level.upsample = new Upsample(channels, config.resampWithConv);
        side *= 2;
      }
      levels.unshift(level);
    }
    this.up = new ModuleList(levels);
    this.norm_out = normalize(channels, numGroups);
    this.conv_out = new Conv2d(channels, config.outCh, 3, { padding: 1 });
  }

  forward(z: Tensor): Tensor {
    let h = this.mid.forward(this.conv_in.forward(z));
    for (let i = this.up.length - 1; i >= 0; i--) h = this.up.at(i).forward(h);
    return this.conv_out.forward(silu(this.norm_out.forward(h)));
  }
}

/**
 * The KL-autoencoder: encode(x) = DiagonalGaussian(quant_conv(encoder(x))), decode(z) = decoder(post_quant_conv(z)).
 * quant_conv maps 2·zChannels → 2·embedDim and post_quant_conv embedDim → zChannels (both 1×1).
 * Weights start at PyTorch's default layer initialisation, as the official model's (no custom init).
 */
export class AutoencoderKL extends Module {
  readonly encoder: Encoder;
  readonly decoder: Decoder;
  readonly quant_conv: Conv2d;
  readonly post_quant_conv: Conv2d;

  constructor(readonly config: AutoencoderConfig) {
    super();
    checkConfig(config);
    if (!config.doubleZ) throw new RangeError('AutoencoderKL: doubleZ must be true (the posterior needs a mean and a log-variance)');
    this.encoder = new Encoder(config);
    this.decoder = new Decoder(config);
    this.quant_conv = new Conv2d(2 * config.zChannels, 2 * config.embedDim, 1);
    this.post_quant_conv = new Conv2d(config.embedDim, config.zChannels, 1);
  }

  encode(x: Tensor): DiagonalGaussianDistribution {
    return new DiagonalGaussianDistribution(this.quant_conv.forward(this.encoder.forward(x)));
  }

  decode(z: Tensor): Tensor {
    return this.decoder.forward(this.post_quant_conv.forward(z));
  }

  /**
   * The official forward: encode, take a posterior sample (`noise` ε, or fresh standard normal draws) or the mode,
   * decode. Returns the reconstruction, the posterior and the latent that was decoded.
   */
  forward(x: Tensor, { samplePosterior = true, noise }: { samplePosterior?: boolean; noise?: Tensor } = {}) {
    const posterior = this.encode(x);
    const z = samplePosterior ? posterior.sample(noise) : posterior.mode();
    return { reconstruction: this.decode(z), posterior, z };
  }

  /** The decoder's last conv weight, where the GAN term's adaptive weight is measured (official `get_last_layer`). */
  lastLayer(): Tensor {
    return this.decoder.conv_out.weight;
  }
}
