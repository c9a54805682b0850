import { DEFAULT_CONFIG, LightningDiT, type LightningDiTConfig } from './model.js';

/**
 * The registered model sizes (official `LightningDiT_models`) and the flags of the released ImageNet model, plus
 * two small sizes for CPU runs (not official).
 */

type Size = Pick<LightningDiTConfig, 'depth' | 'hiddenSize' | 'numHeads' | 'patchSize'>;

export const LIGHTNINGDIT_SIZES: Readonly<Record<string, Size>> = {
  'LightningDiT-B/1': { depth: 12, hiddenSize: 768, numHeads: 12, patchSize: 1 },
  'LightningDiT-B/2': { depth: 12, hiddenSize: 768, numHeads: 12, patchSize: 2 },
  // The official registry has no L/1.
  'LightningDiT-L/2': { depth: 24, hiddenSize: 1024, numHeads: 16, patchSize: 2 },
  'LightningDiT-XL/1': { depth: 28, hiddenSize: 1152, numHeads: 16, patchSize: 1 },
  'LightningDiT-XL/2': { depth: 28, hiddenSize: 1152, numHeads: 16, patchSize: 2 },
  'LightningDiT-1p0B/1': { depth: 24, hiddenSize: 1536, numHeads: 24, patchSize: 1 },
  'LightningDiT-1p0B/2': { depth: 24, hiddenSize: 1536, numHeads: 24, patchSize: 2 },
  'LightningDiT-1p6B/1': { depth: 28, hiddenSize: 1792, numHeads: 28, patchSize: 1 },
  'LightningDiT-1p6B/2': { depth: 28, hiddenSize: 1792, numHeads: 28, patchSize: 2 },
  // Not official: DiT-S widths, and a tiny model that trains in minutes on a CPU.
  'LightningDiT-S/1': { depth: 12, hiddenSize: 384, numHeads: 6, patchSize: 1 },
  'LightningDiT-S/2': { depth: 12, hiddenSize: 384, numHeads: 6, patchSize: 2 },
  'LightningDiT-Tiny/1': { depth: 4, hiddenSize: 128, numHeads: 4, patchSize: 1 },
  'LightningDiT-Tiny/2': { depth: 4, hiddenSize: 128, numHeads: 4, patchSize: 2 },
};

/**
 * The released ImageNet 256² model (configs/lightningdit_xl_vavae_f16d32.yaml): XL/1 on VA-VAE f16d32 latents
 * (16×16×32), SwiGLU, RoPE and RMSNorm on, qk-norm and shift-free adaLN off, learn_sigma off.
 */
export const RELEASED_FLAGS: Pick<LightningDiTConfig, 'useQknorm' | 'useSwiglu' | 'useRope' | 'useRmsnorm' | 'woShift' | 'learnSigma'> = {
  useQknorm: false,
  useSwiglu: true,
  useRope: true,
  useRmsnorm: true,
  woShift: false,
  learnSigma: false,
};

export const RELEASED_CONFIG: LightningDiTConfig = {
  ...DEFAULT_CONFIG,
  ...LIGHTNINGDIT_SIZES['LightningDiT-XL/1']!,
  ...RELEASED_FLAGS,
  inputSize: 16,
  inChannels: 32,
};

/** A registered size with the remaining settings (official class defaults where not given), like `LightningDiT_models[name](**kwargs)`. */
export function lightningDiTConfig(name: string, overrides: Partial<LightningDiTConfig> = {}): LightningDiTConfig {
  const size = LIGHTNINGDIT_SIZES[name];
  if (!size) throw new RangeError(`unknown LightningDiT model '${name}' (known: ${Object.keys(LIGHTNINGDIT_SIZES).join(', ')})`);
  const clash = Object.keys(size).filter((k) => k in overrides);
  if (clash.length) throw new RangeError(`'${name}' fixes ${clash.join(', ')}; they cannot be overridden`);
  return { ...DEFAULT_CONFIG, ...overrides, ...size };
}

export function createLightningDiT(name: string, overrides: Partial<LightningDiTConfig> = {}): LightningDiT {
  return new LightningDiT(lightningDiTConfig(name, overrides));
}

/** The official constructor's keyword arguments (snake_case, as in configs and fixture sidecars) as a config. */
export function configFromOfficial(kwargs: Readonly<Record<string, unknown>>): LightningDiTConfig {
  const names: Record<string, keyof LightningDiTConfig> = {
    input_size: 'inputSize',
    patch_size: 'patchSize',
    in_channels: 'inChannels',
    hidden_size: 'hiddenSize',
    depth: 'depth',
    num_heads: 'numHeads',
    mlp_ratio: 'mlpRatio',
    class_dropout_prob: 'classDropoutProb',
    num_classes: 'numClasses',
    learn_sigma: 'learnSigma',
    use_qknorm: 'useQknorm',
    use_swiglu: 'useSwiglu',
    use_rope: 'useRope',
    use_rmsnorm: 'useRmsnorm',
    wo_shift: 'woShift',
  };
  const config: Record<string, unknown> = { ...DEFAULT_CONFIG };
  for (const [key, value] of Object.entries(kwargs)) {
    const name = names[key];
    if (!name) throw new RangeError(`configFromOfficial: unknown LightningDiT argument '${key}'`);
    if (typeof value !== typeof DEFAULT_CONFIG[name]) throw new RangeError(`configFromOfficial: '${key}' should be a ${typeof DEFAULT_CONFIG[name]}, got ${JSON.stringify(value)}`);
    config[name] = value;
  }
  return config as unknown as LightningDiTConfig;
}
