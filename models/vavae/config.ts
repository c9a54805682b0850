import { EngineError } from '../../engine/errors.js';

/**
 * The LDM autoencoder's `ddconfig` (hustvl/LightningDiT `vavae/configs/*.yaml`, `tokenizer/configs/*.yaml`), in
 * camelCase, plus `embedDim`. The Encoder reads every field but `outCh`; the Decoder every field but `doubleZ`.
 */
export interface DDConfig {
  /** Base channel count; level i has ch·chMult[i] channels. */
  ch: number;
  chMult: readonly number[];
  numResBlocks: number;
  /** Spatial sides (of the feature map, not the image) at which each ResnetBlock is followed by an AttnBlock. */
  attnResolutions: readonly number[];
  dropout: number;
  /** Downsample/Upsample with a 3×3 conv (true, the default) or by average pooling / plain nearest upsampling. */
  resampWithConv: boolean;
  inChannels: number;
  outCh: number;
  /** Image side; only used to find the levels whose side is in attnResolutions. */
  resolution: number;
  zChannels: number;
  /** The encoder outputs mean and log-variance (2·zChannels channels). */
  doubleZ: boolean;
  /**
   * GroupNorm groups of every norm layer. Not an official knob: the official `Normalize` always uses 32 (eps 1e-6),
   * which requires channel counts that are multiples of 32. Smaller values allow narrower models.
   */
  numGroups: number;
}

export interface AutoencoderConfig extends DDConfig {
  /** Latent channels after quant_conv (the posterior's channels). */
  embedDim: number;
}

const DEFAULTS = { dropout: 0, resampWithConv: true, doubleZ: true, numGroups: 32 } as const;

/** The released VA-VAE f16d32 tokenizer (`vavae_f16d32.yaml`): 256² RGB → 32×16×16, 69,836,067 parameters. */
export const VAVAE_F16D32_CONFIG: AutoencoderConfig = {
  ...DEFAULTS,
  ch: 128,
  chMult: [1, 1, 2, 2, 4],
  numResBlocks: 2,
  attnResolutions: [16],
  inChannels: 3,
  outCh: 3,
  resolution: 256,
  zChannels: 32,
  embedDim: 32,
};

/**
 * Not official: a small f4 autoencoder for 1×32×32 images (MNIST padded to 32), 32 channels at full resolution,
 * attention at the 8×8 latent side, latent 4×8×8. Trains on a CPU.
 */
export const VAVAE_MNIST_CONFIG: AutoencoderConfig = {
  ...DEFAULTS,
  ch: 32,
  chMult: [1, 2, 2],
  numResBlocks: 1,
  attnResolutions: [8],
  inChannels: 1,
  outCh: 1,
  resolution: 32,
  zChannels: 4,
  embedDim: 4,
  numGroups: 8,
};

/** A config from the official snake_case `ddconfig` and `embed_dim` (as in the yaml files and fixture sidecars). */
export function autoencoderConfigFromOfficial(ddconfig: Readonly<Record<string, unknown>>, embedDim: number): AutoencoderConfig {
  const names: Record<string, keyof DDConfig> = {
    ch: 'ch',
    ch_mult: 'chMult',
    num_res_blocks: 'numResBlocks',
    attn_resolutions: 'attnResolutions',
    dropout: 'dropout',
    resamp_with_conv: 'resampWithConv',
    in_channels: 'inChannels',
    out_ch: 'outCh',
    resolution: 'resolution',
    z_channels: 'zChannels',
    double_z: 'doubleZ',
  };
  const config: Record<string, unknown> = { ...DEFAULTS, embedDim };
  for (const [key, value] of Object.entries(ddconfig)) {
    const name = names[key];
    if (!name) throw new EngineError(`ddconfig: unknown key '${key}' (known: ${Object.keys(names).join(', ')})`);
    config[name] = value;
  }
  const missing = Object.values(names).filter((n) => config[n] === undefined);
  if (missing.length) throw new EngineError(`ddconfig: missing ${missing.join(', ')}`);
  return config as unknown as AutoencoderConfig;
}

/** Channel counts that GroupNorm cannot split, and other settings the layers cannot build, reported together. */
export function checkConfig(c: AutoencoderConfig): void {
  const problems: string[] = [];
  const positive = (name: string, v: number) => (Number.isInteger(v) && v > 0) || problems.push(`${name} must be a positive integer, got ${v}`);
  for (const name of ['ch', 'numResBlocks', 'inChannels', 'outCh', 'resolution', 'zChannels', 'embedDim', 'numGroups'] as const) positive(name, c[name]);
  if (c.chMult.length === 0) problems.push('chMult must not be empty');
  for (const m of c.chMult) positive('each chMult entry', m);
  for (const channels of new Set([c.ch, ...c.chMult.map((m) => c.ch * m)])) {
    if (channels % c.numGroups !== 0) problems.push(`${channels} channels do not split into ${c.numGroups} GroupNorm groups`);
  }
  if (!(c.dropout >= 0 && c.dropout <= 1)) problems.push(`dropout must lie in [0, 1], got ${c.dropout}`);
  if (c.resolution % 2 ** (c.chMult.length - 1) !== 0) problems.push(`resolution ${c.resolution} is not divisible by the downsampling factor ${2 ** (c.chMult.length - 1)}`);
  if (problems.length) throw new EngineError(`AutoencoderKL config: ${problems.join('; ')}`);
}
