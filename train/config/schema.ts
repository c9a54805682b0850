import { z } from 'zod';
import { DINOV2_CONFIGS } from '../../models/foundation/index.js';

/*
 * The configuration files of the four training commands, as zod schemas. Every object is strict: an unknown key is
 * an error (a typo must not silently fall back to a default). Names are the camelCase forms of the official
 * configs' keys; where a default exists it is the official value, and the ready configs in train/configs/ spell
 * every value out anyway.
 */

const positiveInt = z.number().int().positive();
const nonNegativeInt = z.number().int().nonnegative();
const nonNegative = z.number().nonnegative();
const betas = z.tuple([z.number().min(0).lt(1), z.number().min(0).lt(1)]);
/** Free text at the top of a file, for the ready configs to say where their values come from. */
const comment = z.string().optional();

/* ---------------------------------------------------------------- images */

const mnistData = z.strictObject({
  source: z.literal('mnist'),
  split: z.enum(['train', 'test']).default('train'),
  /** Digits are zero-padded from 28 to this side (below 28: first averaged down, e.g. to 14 for 16). */
  imageSize: positiveInt.default(32),
  limit: positiveInt.nullable().default(null),
});

const folderData = z.strictObject({
  source: z.literal('folder'),
  path: z.string().min(1),
  imageSize: positiveInt,
  channels: z.union([z.literal(1), z.literal(3)]).default(3),
  limit: positiveInt.nullable().default(null),
  skipCorrupt: z.boolean().default(false),
});

export const imageDataSchema = z.discriminatedUnion('source', [mnistData, folderData]);
export type ImageDataConfig = z.infer<typeof imageDataSchema>;

/* ---------------------------------------------------------------- shared training sections */

const trainSection = z.strictObject({
  steps: positiveInt,
  /** Images per optimiser step (the global batch). */
  batchSize: positiveInt,
  /** Stop early (with a checkpoint) after this many minutes: for demos on a time budget. */
  maxMinutes: z.number().positive().nullable().default(null),
});

const checkpointSection = z.strictObject({
  every: positiveInt,
  /** How many of the latest checkpoints to keep. */
  keep: positiveInt.default(3),
});

const logSection = z.strictObject({
  /** Metrics line (and progress) every N steps. */
  every: positiveInt,
  /** Redraw the loss curve every N steps. */
  plotEvery: positiveInt,
  /** Write a picture grid every N steps; null: never during training. */
  sampleEvery: positiveInt.nullable(),
});

/* ---------------------------------------------------------------- train-vae */

const autoencoderModel = z.strictObject({
  ch: positiveInt,
  chMult: z.array(positiveInt).min(1),
  numResBlocks: positiveInt,
  attnResolutions: z.array(positiveInt),
  dropout: z.number().min(0).max(1).default(0),
  resampWithConv: z.boolean().default(true),
  inChannels: positiveInt,
  outCh: positiveInt,
  resolution: positiveInt,
  zChannels: positiveInt,
  embedDim: positiveInt,
  numGroups: positiveInt.default(32),
});

const vaeLoss = z.strictObject({
  discStart: nonNegativeInt,
  klWeight: nonNegative,
  discWeight: nonNegative,
  discFactor: nonNegative.default(1),
  discNumLayers: positiveInt.default(3),
  perceptualWeight: nonNegative,
  discLoss: z.enum(['hinge', 'vanilla']).default('hinge'),
  vfWeight: nonNegative,
  adaptiveVf: z.boolean(),
  cosMargin: nonNegative,
  distmatMargin: nonNegative,
  distmatWeight: nonNegative.default(1),
  cosWeight: nonNegative.default(1),
  logvarInit: z.number().default(0),
});

const foundation = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('dinov2'),
    variant: z.enum(Object.keys(DINOV2_CONFIGS) as [keyof typeof DINOV2_CONFIGS, ...(keyof typeof DINOV2_CONFIGS)[]]),
    /** timm's weights converted to safetensors (not bundled). */
    weights: z.string().min(1),
    inputSize: positiveInt.default(224),
  }),
  z.strictObject({
    kind: z.literal('mnist-classifier'),
    /** The small CNN's weights; null: the ones checked in under models/foundation/weights. */
    weights: z.string().min(1).nullable().default(null),
    /** The feature map aligned to: conv2 (32 wide, 8×8 grid) or conv3 (64 wide, 4×4 grid); images are resized to 32×32 first. */
    layer: z.enum(['conv2', 'conv3']).default('conv3'),
  }),
]);

export const trainVaeSchema = z.strictObject({
  $comment: comment,
  kind: z.literal('train-vae'),
  out: z.string().min(1),
  seed: nonNegativeInt,
  data: imageDataSchema,
  /** Random horizontal flips of the training images (the official VA-VAE training has none). */
  hflip: z.boolean().default(false),
  model: autoencoderModel,
  loss: vaeLoss,
  /** The frozen vision foundation model of the VF loss; null trains a plain KL-VAE. */
  foundation: foundation.nullable(),
  /** LPIPS weights (VGG16 + LPIPS v0.1 linear layers) as safetensors; needed when loss.perceptualWeight > 0. */
  lpips: z.strictObject({ weights: z.string().min(1) }).nullable(),
  optimizer: z.strictObject({ lr: z.number().positive(), betas, projFix: z.boolean().default(false) }),
  train: trainSection,
  checkpoint: checkpointSection,
  log: logSection,
});
export type TrainVaeConfig = z.infer<typeof trainVaeSchema>;

/* ---------------------------------------------------------------- encode */

export const encodeSchema = z.strictObject({
  $comment: comment,
  kind: z.literal('encode'),
  /** The autoencoder: a train-vae run folder (its latest checkpoint) or a checkpoint file. */
  vae: z.string().min(1),
  data: imageDataSchema,
  out: z.string().min(1),
  seed: nonNegativeInt,
  batchSize: positiveInt,
  shardSize: positiveInt.default(10000),
  /** Also encode every image mirrored (`latents_flip`), as the official extraction does. */
  flip: z.boolean().default(true),
  /** Images whose unflipped latents give the per-channel statistics (10,000 officially). */
  statsSamples: positiveInt.default(10000),
});
export type EncodeConfig = z.infer<typeof encodeSchema>;

/* ---------------------------------------------------------------- sampling */

export const samplerSchema = z.strictObject({
  method: z.enum(['euler', 'midpoint', 'heun2', 'heun3', 'rk4', 'dopri5']),
  /** Grid points (250 officially = 249 Euler steps). */
  numSteps: z.number().int().min(2),
  /** Timestep shift of the grid (0.3 officially; 0 disables it). */
  shift: nonNegative,
  /** Classifier-free guidance scale; ≤ 1 turns guidance off. */
  cfgScale: z.number(),
  /** Guidance only where t ≥ this (the CFG interval); null: at every t. */
  cfgIntervalStart: z.number().min(0).max(1).nullable(),
  /** Leading latent channels that are guided (3 officially) or 'all'. */
  guidedChannels: z.union([positiveInt, z.literal('all')]).default(3),
  atol: z.number().positive().default(1e-6),
  rtol: z.number().positive().default(1e-3),
  /** Which classes to draw (null: every class), and how many images of each. */
  classes: z.array(nonNegativeInt).nullable().default(null),
  perClass: positiveInt,
  batchSize: positiveInt,
});
export type SamplerConfig = z.infer<typeof samplerSchema>;

/* ---------------------------------------------------------------- train-dit */

const ditModel = z.strictObject({
  depth: positiveInt,
  hiddenSize: positiveInt,
  numHeads: positiveInt,
  patchSize: positiveInt,
  mlpRatio: z.number().positive().default(4),
  /** Label dropout for classifier-free guidance (0.1 officially). */
  classDropoutProb: z.number().min(0).lt(1),
  useQknorm: z.boolean(),
  useSwiglu: z.boolean(),
  useRope: z.boolean(),
  useRmsnorm: z.boolean(),
  woShift: z.boolean(),
  learnSigma: z.boolean().default(false),
});

export const trainDitSchema = z.strictObject({
  $comment: comment,
  kind: z.literal('train-dit'),
  out: z.string().min(1),
  seed: nonNegativeInt,
  data: z.strictObject({
    /** A folder written by `encode`. */
    latents: z.string().min(1),
    /** Probability of training on the mirrored image's latent (0.5 officially; 0 for digits). */
    flipProb: z.number().min(0).max(1),
    latentNorm: z.boolean().default(true),
    latentMultiplier: z.number().positive().default(1),
  }),
  /** The autoencoder that decodes the sample grids (a train-vae run or checkpoint); null: no pictures. */
  vae: z.string().min(1).nullable(),
  model: ditModel,
  transport: z.strictObject({ timesteps: z.enum(['logit-normal', 'uniform']), cosineLoss: z.boolean() }),
  optimizer: z.strictObject({
    lr: z.number().positive(),
    betas,
    weightDecay: nonNegative.default(0),
    eps: z.number().positive().default(1e-8),
    /** Gradient clipping by global norm; null: none (the released configs have none). */
    maxGradNorm: z.number().positive().nullable().default(null),
    /** Linear learning-rate warm-up (none officially). */
    warmupSteps: nonNegativeInt.default(0),
  }),
  ema: z.strictObject({
    decay: z.number().min(0).max(1),
    /**
     * Not official: decay_t = min(decay, (1 + t)/(10 + t)) so that the EMA forgets its random start within a
     * short run. The official EMA uses the fixed decay from step 0.
     */
    warmup: z.boolean().default(false),
  }),
  train: trainSection.extend({ gradAccumulation: positiveInt.default(1) }),
  checkpoint: checkpointSection,
  log: logSection,
  sample: samplerSchema,
});
export type TrainDitConfig = z.infer<typeof trainDitSchema>;

/* ---------------------------------------------------------------- sample */

export const sampleSchema = z.strictObject({
  $comment: comment,
  kind: z.literal('sample'),
  /** A train-dit run folder (its latest checkpoint) or a checkpoint file. */
  checkpoint: z.string().min(1),
  /** The autoencoder; null: the one named in the DiT's config. */
  vae: z.string().min(1).nullable().default(null),
  /** EMA weights (default, as the official evaluation) or the raw model's. */
  weights: z.enum(['ema', 'model']).default('ema'),
  out: z.string().min(1),
  seed: nonNegativeInt,
  sampler: samplerSchema,
});
export type SampleConfig = z.infer<typeof sampleSchema>;
