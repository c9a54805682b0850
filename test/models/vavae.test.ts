import { beforeAll, describe, expect, test } from 'vitest';
import * as E from '../../engine/index.js';
import type { Tensor } from '../../engine/index.js';
import { type Module, init } from '../../nn/index.js';
import { AuxFoundationModel, VisionTransformer } from '../../models/foundation/index.js';
import {
  type AutoencoderConfig,
  AutoencoderKL,
  DiagonalGaussianDistribution,
  LPIPS,
  LPIPSWithDiscriminator,
  VAVAE,
  VAVAETrainer,
  VAVAE_F16D32_CONFIG,
  VAVAE_F16D32_LOSS_CONFIG,
  VAVAE_MNIST_CONFIG,
  adaptiveWeight,
  autoencoderConfigFromOfficial,
} from '../../models/vavae/index.js';

/*
 * The VA-VAE model and its training loss on small configurations: structure and key names beyond the fixtures'
 * configs, the posterior, each loss term against its definition, the adaptive weights, the whole generator loss
 * under gradcheck (float64), and one training step against Adam's first update computed by hand.
 * (The official numbers are checked in test/parity/vavae.test.ts.)
 */

const f64 = { dtype: 'float64' } as const;

/** 3×8×8 images → 2×4×4 latents; GroupNorm with 4 groups (not official: the official Normalize has 32). */
const TINY: AutoencoderConfig = {
  ch: 8,
  chMult: [1, 2],
  numResBlocks: 1,
  attnResolutions: [4],
  dropout: 0,
  resampWithConv: true,
  inChannels: 3,
  outCh: 3,
  resolution: 8,
  zChannels: 2,
  embedDim: 2,
  doubleZ: true,
  numGroups: 4,
};

/** A one-block ViT on 8×8 images with 2×2 patches: a 4×4 feature grid, like the tiny latent. */
function tinyFoundation(): AuxFoundationModel {
  const vit = new VisionTransformer({ imgSize: 8, patchSize: 2, inChans: 3, embedDim: 8, depth: 1, numHeads: 2, mlpRatio: 2, mlp: 'gelu', initValues: 0.5, normEps: 1e-6 });
  for (const [, p] of vit.namedParameters()) init.normal_(p, 0, 0.3);
  return new AuxFoundationModel(vit, 8);
}

/** The released loss settings, with the discriminator on from step 0, LPIPS off and a 1-layer PatchGAN for 8×8 images. */
const TINY_LOSS = { ...VAVAE_F16D32_LOSS_CONFIG, perceptualWeight: 0, discStart: 0, klWeight: 1, discNumLayers: 1 };

function tinyVAVAE(seed: number, loss = TINY_LOSS): VAVAE {
  E.manualSeed(seed);
  return new VAVAE(TINY, { loss, foundation: tinyFoundation() }).to('float64');
}

/** The generator loss of a fresh model at step 0 (GAN and VF terms on) on random images, with what it came from. */
function generatorLossAtStart(model: VAVAE) {
  const x = E.tanh(E.randn([2, 3, 8, 8], f64));
  const noise = E.randn([2, 2, 4, 4], f64);
  const out = model.trainingForward(x, { noise });
  const g = model.loss.generatorLoss({
    inputs: x,
    reconstructions: out.reconstruction,
    posterior: out.posterior,
    globalStep: 0,
    decoderLastLayer: model.lastLayer(),
    vf: { ...out.vf!, encoderLastLayer: model.encoderLastLayer() },
  });
  return { x, noise, out, g };
}

function values(t: Tensor): number[] {
  return Array.from(t.toArraySync());
}

/** Replaces the tensor at a dotted state-dict key by `value` and returns the undo (to check gradients in parameters). */
function substitute(module: Module, key: string, value: Tensor): () => void {
  const path = key.split('.');
  const name = path.pop()!;
  const owner = path.reduce((m: Module, part) => new Map(m.namedChildren()).get(part)!, module) as unknown as Record<string, Tensor>;
  const old = owner[name]!;
  owner[name] = value;
  return () => {
    owner[name] = old;
  };
}

describe('structure', () => {
  test('official key layout: levels, blocks, attention, resamplers, nin_shortcut, mid, quant convs', () => {
    const model = new AutoencoderKL({ ...TINY, numResBlocks: 2, attnResolutions: [8, 4] });
    const keys = [...model.stateDict().keys()];
    for (const key of [
      'encoder.conv_in.weight',
      'encoder.down.0.block.1.conv2.weight',
      'encoder.down.0.attn.1.proj_out.weight',
      'encoder.down.0.downsample.conv.weight',
      'encoder.down.1.block.0.nin_shortcut.weight',
      'encoder.down.1.attn.0.q.bias',
      'encoder.mid.block_1.norm1.weight',
      'encoder.mid.attn_1.k.weight',
      'encoder.norm_out.bias',
      'decoder.up.1.block.2.conv1.weight',
      'decoder.up.1.upsample.conv.weight',
      'decoder.up.0.block.0.nin_shortcut.weight',
      'decoder.up.0.attn.2.v.weight',
      'quant_conv.weight',
      'post_quant_conv.bias',
    ]) {
      expect(keys, key).toContain(key);
    }
    // The last level does not downsample, level 0 does not upsample, and equal channels need no nin_shortcut.
    expect(keys.some((k) => k.startsWith('encoder.down.1.downsample'))).toBe(false);
    expect(keys.some((k) => k.startsWith('decoder.up.0.upsample'))).toBe(false);
    expect(keys.some((k) => k.startsWith('encoder.down.0.block.0.nin_shortcut'))).toBe(false);
    // numResBlocks blocks per encoder level, numResBlocks + 1 per decoder level.
    expect(keys.filter((k) => /^encoder\.down\.0\.block\.\d+\.conv1\.weight$/.test(k))).toHaveLength(2);
    expect(keys.filter((k) => /^decoder\.up\.0\.block\.\d+\.conv1\.weight$/.test(k))).toHaveLength(3);
    const shapes = new Map([...model.stateDict()].map(([k, t]) => [k, t.shape]));
    expect(shapes.get('encoder.conv_out.weight')).toEqual([4, 16, 3, 3]);
    expect(shapes.get('quant_conv.weight')).toEqual([4, 4, 1, 1]);
    expect(shapes.get('decoder.conv_in.weight')).toEqual([16, 2, 3, 3]);
    expect(shapes.get('decoder.conv_out.weight')).toEqual([3, 8, 3, 3]);
  });

  test('shapes through the MNIST configuration (1×32×32 → 4×8×8 → 1×32×32)', () => {
    E.manualSeed(1);
    const model = new AutoencoderKL(VAVAE_MNIST_CONFIG);
    const { reconstruction, posterior, z } = model.forward(E.randn([2, 1, 32, 32]));
    expect(posterior.mean.shape).toEqual([2, 4, 8, 8]);
    expect(z.shape).toEqual([2, 4, 8, 8]);
    expect(reconstruction.shape).toEqual([2, 1, 32, 32]);
  });

  test('resampWithConv false: average-pool down, plain nearest up, no resampler convs', () => {
    const model = new AutoencoderKL({ ...TINY, resampWithConv: false });
    expect([...model.stateDict().keys()].some((k) => k.includes('sample.conv'))).toBe(false);
    const x = E.randn([1, 3, 8, 8]);
    expect(model.decode(model.encode(x).mode()).shape).toEqual([1, 3, 8, 8]);
  });

  test('the released f16d32 config and the official snake_case ddconfig', () => {
    expect(VAVAE_F16D32_CONFIG).toMatchObject({ ch: 128, chMult: [1, 1, 2, 2, 4], numResBlocks: 2, attnResolutions: [16], zChannels: 32, embedDim: 32, resolution: 256, numGroups: 32 });
    const config = autoencoderConfigFromOfficial(
      { double_z: true, z_channels: 32, resolution: 256, in_channels: 3, out_ch: 3, ch: 128, ch_mult: [1, 1, 2, 2, 4], num_res_blocks: 2, attn_resolutions: [16], dropout: 0 },
      32,
    );
    expect(config).toEqual(VAVAE_F16D32_CONFIG);
    expect(() => autoencoderConfigFromOfficial({ ch: 128, chanels: 3 }, 32)).toThrow(/unknown key 'chanels'/);
    expect(() => autoencoderConfigFromOfficial({ ch: 128 }, 32)).toThrow(/missing chMult, numResBlocks/);
  });

  test('configurations the layers cannot build are refused, every problem named', () => {
    expect(() => new AutoencoderKL({ ...TINY, numGroups: 3 })).toThrow(/8 channels do not split into 3 GroupNorm groups.*16 channels/);
    expect(() => new AutoencoderKL({ ...TINY, resolution: 9 })).toThrow(/not divisible by the downsampling factor 2/);
    expect(() => new AutoencoderKL({ ...TINY, doubleZ: false })).toThrow(/doubleZ/);
  });

  test('dropout acts in training mode only', () => {
    E.manualSeed(2);
    const model = new AutoencoderKL({ ...TINY, dropout: 0.5 });
    const x = E.randn([1, 3, 8, 8]);
    const evalOut = values(model.eval().encode(x).mean);
    expect(values(model.encode(x).mean)).toEqual(evalOut);
    expect(values(model.train().encode(x).mean)).not.toEqual(evalOut);
  });
});

describe('DiagonalGaussianDistribution', () => {
  const moments = E.fromArray([0.5, -1, 2, 0.25, -40, 25, Math.log(4), 0], [1, 4, 2, 1], f64);

  test('mean/logvar split, clamp to [−30, 20], std, var, mode', () => {
    const d = new DiagonalGaussianDistribution(moments);
    expect(values(d.mean)).toEqual([0.5, -1, 2, 0.25]);
    expect(values(d.logvar)).toEqual([-30, 20, Math.log(4), 0]);
    expect(values(d.std)[2]).toBeCloseTo(2, 14);
    expect(values(d.var)[2]).toBeCloseTo(4, 14);
    expect(d.mode()).toBe(d.mean);
  });

  test('sample = mean + std·ε with the given noise; seeded draws otherwise', () => {
    const d = new DiagonalGaussianDistribution(moments);
    const noise = E.fromArray([1, 1, -0.5, 2], [1, 2, 2, 1], f64);
    const s = values(d.sample(noise));
    expect(s[2]).toBeCloseTo(2 - 0.5 * 2, 14);
    expect(s[3]).toBeCloseTo(0.25 + 2, 14);
    E.manualSeed(5);
    const a = values(d.sample());
    E.manualSeed(5);
    expect(values(d.sample())).toEqual(a);
    expect(() => d.sample(E.zeros([1, 2, 2], f64))).toThrow(/noise \[1,2,2\] must have the mean's shape \[1,2,2,1\]/);
  });

  test('KL per sample = ½ Σ(mean² + var − 1 − logvar)', () => {
    const d = new DiagonalGaussianDistribution(E.fromArray([1, 0, 0, 2, 3, 4, Math.log(2), 0], [2, 2, 2, 1], f64));
    // Sample 0: mean (1, 0), logvar (0, 2).  Sample 1: mean (3, 4), logvar (log 2, 0).
    const expected0 = 0.5 * (1 + 1 - 1 - 0 + (0 + Math.exp(2) - 1 - 2));
    const expected1 = 0.5 * (9 + 2 - 1 - Math.log(2) + (16 + 1 - 1 - 0));
    const kl = values(d.kl());
    expect(kl[0]).toBeCloseTo(expected0, 13);
    expect(kl[1]).toBeCloseTo(expected1, 13);
  });
});

describe('loss terms', () => {
  test('reconstruction: Σ|x − x̂| over every element divided by the batch (not a mean), logvar 0', () => {
    const loss = new LPIPSWithDiscriminator({ perceptualWeight: 0 });
    const x = E.fromArray([1, 2, 3, 4, 5, 6, 7, 8], [2, 1, 2, 2]);
    const y = E.fromArray([0, 2, 5, 4, 5, 3, 7, 9], [2, 1, 2, 2]);
    expect(loss.reconstructionLoss(x, y).itemSync()).toBeCloseTo((1 + 2 + 3 + 1) / 2, 6);
    expect(loss.logvar.requiresGrad).toBe(true);
    expect(loss.logvar.itemSync()).toBe(0);
  });

  test('perceptual weight without LPIPS weights is a clear error', () => {
    expect(() => new LPIPSWithDiscriminator()).toThrow(/perceptualWeight > 0 needs LPIPS weights .* not bundled/);
  });

  test('state-dict keys of the loss: logvar, the discriminator, LPIPS when given', () => {
    const keys = [...new LPIPSWithDiscriminator({ perceptualWeight: 0 }).stateDict().keys()];
    expect(keys[0]).toBe('logvar');
    expect(keys).toContain('discriminator.main.3.running_var');
    expect(keys.some((k) => k.startsWith('perceptual_loss'))).toBe(false);
  });

  test('the total: L_nll + klWeight·L_kl + d_weight·disc_factor·L_g + vf_weight·L_vf, terms as defined', () => {
    const model = tinyVAVAE(11);
    const { x, noise, out, g } = generatorLossAtStart(model);
    expect(g.nllLoss.itemSync()).toBeCloseTo(E.sum(E.abs(E.sub(x, out.reconstruction))).itemSync() / 2, 10);
    expect(g.klLoss.itemSync()).toBeCloseTo(E.sum(out.posterior.kl()).itemSync() / 2, 10);
    expect(out.z.shape).toEqual([2, 2, 4, 4]);
    expect(values(out.z)).toEqual(values(out.posterior.sample(noise)));
    expect(out.vf!.features.requiresGrad).toBe(false);
    const expected =
      g.nllLoss.itemSync() + TINY_LOSS.klWeight * g.klLoss.itemSync() + g.dWeight.itemSync() * 1 * g.gLoss!.itemSync() + g.vfWeight!.itemSync() * g.vfLoss!.itemSync();
    expect(g.loss.itemSync()).toBeCloseTo(expected, 10);
    expect(g.discFactor).toBe(1);
    expect(g.dWeight.requiresGrad || g.vfWeight!.requiresGrad).toBe(false);
    // Before discStart the GAN term is switched off: 0·d_weight·L_g officially; left out, discriminator unrun, here.
    const early = new LPIPSWithDiscriminator({ ...TINY_LOSS, discStart: 5 }).to('float64');
    const terms = early.generatorTerms({ inputs: x, reconstructions: out.reconstruction, posterior: out.posterior });
    expect(early.combineGeneratorLoss(terms, { dWeight: E.scalar(3, f64) }, 0).itemSync()).toBeCloseTo(terms.nllLoss.itemSync() + terms.klLoss.itemSync(), 10);
    const before = early.generatorLoss({ inputs: x, reconstructions: out.reconstruction, posterior: out.posterior, globalStep: 4, decoderLastLayer: model.lastLayer() });
    expect(before.discFactor).toBe(0);
    expect(before.gLoss).toBeUndefined();
    expect(before.dWeight.itemSync()).toBe(0);
    expect(before.loss.itemSync()).toBe(E.add(terms.nllLoss, terms.klLoss).itemSync());
  });

  test('the adaptive weights are ‖∇L_nll‖ / (‖∇L_term‖ + 1e-4) at the named layer, ×weight, clamped, detached', () => {
    const w = E.fromArray([1, -2, 0.5], [3], f64).requiresGrad_();
    const reference = E.sum(E.mul(w, E.fromArray([3, 4, 0], [3], f64))); // gradient (3, 4, 0): norm 5
    const term = E.sum(E.mul(E.mul(w, w), 0.5)); // gradient w: norm √5.25
    const weight = adaptiveWeight(reference, term, w, 1e4);
    expect(weight.requiresGrad).toBe(false);
    expect(weight.itemSync()).toBeCloseTo(5 / (Math.sqrt(5.25) + 1e-4), 12);
    const tiny = E.mul(term, 1e-12);
    expect(adaptiveWeight(reference, tiny, w, 1e4).itemSync()).toBe(1e4);
    expect(adaptiveWeight(reference, tiny, w, 1e8).itemSync()).toBeCloseTo(5 / (Math.sqrt(5.25) * 1e-12 + 1e-4), 4);
    // The graphs are kept for the total loss's backward.
    const [gw] = E.grad(E.add(reference, term), [w]);
    expect(values(gw!)).toEqual([4, 2, 0.5]);
  });

  test('gradcheck (float64): the whole generator loss in the images, the posterior noise, the features and four weights', () => {
    const model = tinyVAVAE(3);
    const { x, noise, out, g } = generatorLossAtStart(model);
    // The adaptive weights are detached: constants for the gradient, so they are held at their values here.
    const weights = { dWeight: g.dWeight, vfWeight: g.vfWeight };
    expect(g.dWeight.itemSync()).toBeGreaterThan(0);
    expect(g.vfWeight!.itemSync()).toBeGreaterThan(0);
    const keys = ['decoder.conv_out.weight', 'encoder.conv_out.weight', 'linear_proj.weight', 'quant_conv.weight'];
    // The features come from the frozen foundation model without gradients, so they enter as an input of their own.
    const loss = (images: Tensor, eps: Tensor, features: Tensor, ...params: Tensor[]) => {
      const restore = keys.map((k, i) => substitute(model, k, params[i]!));
      try {
        const o = model.forward(images, { noise: eps });
        const vf = { zProjected: model.linear_proj!.forward(o.z), features, encoderLastLayer: model.encoderLastLayer() };
        const terms = model.loss.generatorTerms({ inputs: images, reconstructions: o.reconstruction, posterior: o.posterior, vf });
        return model.loss.combineGeneratorLoss(terms, weights, 1);
      } finally {
        restore.forEach((undo) => undo());
      }
    };
    const state = model.stateDict();
    // A small step keeps the finite differences off the LeakyReLU and margin kinks nearby (≥ 1e-5 away here).
    const report = E.gradcheck(loss, [x, noise, out.vf!.features, ...keys.map((k) => state.get(k)!)], { mode: 'projected', projections: 6, eps: 2 ** -20, name: 'VA-VAE generator loss' });
    expect(report.verdict, String(report)).toBe('pass');
  });
});

describe('training step', () => {
  test('generator step, then the discriminator on the same detached reconstructions; Adam (0.5, 0.9) first updates', () => {
    const model = tinyVAVAE(7);
    const x = E.tanh(E.randn([2, 3, 8, 8], f64));
    const noise = E.randn([2, 2, 4, 4], f64);
    const lr = 1e-3;
    const trainer = new VAVAETrainer(model, { lr });
    expect(trainer.aeOptimizer.paramGroups[0]!.betas).toEqual([0.5, 0.9]);

    // The expected gradients, from the same forward (the discriminator in train mode uses batch statistics, so the
    // extra forward passes here do not change its outputs).
    const watched = ['decoder.conv_out.weight', 'encoder.conv_in.weight', 'linear_proj.weight', 'post_quant_conv.bias'];
    const discWatched = ['loss.discriminator.main.0.weight', 'loss.discriminator.main.3.weight'];
    const params = new Map(model.namedParameters());
    const before = new Map([...watched, ...discWatched, 'loss.logvar'].map((k) => [k, values(params.get(k)!)]));
    const out = model.trainingForward(x, { noise });
    const g = model.loss.generatorLoss({
      inputs: x,
      reconstructions: out.reconstruction,
      posterior: out.posterior,
      globalStep: 0,
      decoderLastLayer: model.lastLayer(),
      vf: { ...out.vf!, encoderLastLayer: model.encoderLastLayer() },
    });
    const aeGrads = E.grad(g.loss, watched.map((k) => params.get(k)!));
    const d = model.loss.discriminatorLoss(x, out.reconstruction, 1);
    const discGrads = E.grad(d.loss, discWatched.map((k) => params.get(k)!));
    const tracked = model.loss.discriminator.main.namedChildren().find(([name]) => name === '3')![1] as unknown as { num_batches_tracked: Tensor };
    const batchesBefore = tracked.num_batches_tracked.itemSync();

    const log = trainer.step(x, { noise });
    expect(log.loss.itemSync()).toBeCloseTo(g.loss.itemSync(), 10);
    expect(log.discLoss.itemSync()).toBeCloseTo(d.loss.itemSync(), 10);
    expect(trainer.globalStep).toBe(2);
    // One discriminator pass in the generator loss, then real and fake in separate passes.
    expect(tracked.num_batches_tracked.itemSync()).toBe(batchesBefore + 3);
    // Adam's first step moves each weight by lr·g/(|g| + eps).
    const firstStep = (key: string, grad: Tensor) => {
      const old = before.get(key)!;
      const gv = values(grad);
      const now = values(params.get(key)!);
      now.forEach((v, i) => expect(v, `${key}[${i}]`).toBeCloseTo(old[i]! - (lr * gv[i]!) / (Math.abs(gv[i]!) + 1e-8), 12));
    };
    watched.forEach((k, i) => firstStep(k, aeGrads[i]!));
    discWatched.forEach((k, i) => firstStep(k, discGrads[i]!));
    expect(values(params.get('loss.logvar')!)).toEqual(before.get('loss.logvar'));
    expect(model.foundation_model!.parameters().every((p) => !p.requiresGrad && !p.grad)).toBe(true);
  });

  test('while the GAN term is off, skipping the discriminator gives the official step\'s weights and Adam states exactly', () => {
    // discStart 3 in Lightning steps: iteration 1 has the GAN term off for both optimisers, iteration 2 only for
    // the generator (its step 2 < 3 ≤ the discriminator's step 3), iteration 3 has it on for both. The last one
    // would differ if the discriminator's Adam had not counted the zero-gradient steps of iterations 1 and 2.
    const loss = { ...TINY_LOSS, discStart: 3 };
    const skipping = tinyVAVAE(12, loss);
    const official = tinyVAVAE(12, loss);
    const trainer = new VAVAETrainer(skipping, { lr: 1e-2 });
    const reference = new VAVAETrainer(official, { lr: 1e-2 });
    // The official step: every term computed, the GAN terms multiplied by disc_factor, even when it is 0.
    const officialStep = (x: Tensor, noise: Tensor) =>
      E.scope(() => {
        const m = official;
        m.zeroGrad();
        const out = m.trainingForward(x, { noise });
        const terms = m.loss.generatorTerms({ inputs: x, reconstructions: out.reconstruction, posterior: out.posterior, vf: { ...out.vf!, encoderLastLayer: m.encoderLastLayer() } });
        const weights = m.loss.generatorWeights(terms, m.lastLayer(), m.encoderLastLayer());
        reference.aeOptimizer.zeroGrad();
        m.loss.combineGeneratorLoss(terms, weights, m.loss.discFactorAt(reference.globalStep)).backward();
        reference.aeOptimizer.step();
        reference.globalStep++;
        reference.discOptimizer.zeroGrad();
        m.loss.discriminatorLoss(x, out.reconstruction, reference.globalStep).loss.backward();
        reference.discOptimizer.step();
        reference.globalStep++;
      });
    const discFactors: number[] = [];
    for (let i = 0; i < 3; i++) {
      const x = E.tanh(E.randn([2, 3, 8, 8], f64));
      const noise = E.randn([2, 2, 4, 4], f64);
      officialStep(x, noise);
      discFactors.push(trainer.step(x, { noise }).discFactor);
    }
    expect(discFactors).toEqual([0, 0, 1]);
    const officialParams = new Map(official.namedParameters());
    for (const [key, p] of skipping.namedParameters()) expect(values(p), key).toEqual(values(officialParams.get(key)!));
    const stepsOf = (o: VAVAETrainer['discOptimizer']) => o.getState().meta.steps;
    expect(stepsOf(trainer.discOptimizer)).toEqual(stepsOf(reference.discOptimizer));
    expect(Object.values(stepsOf(trainer.discOptimizer))).toContain(3);
    const officialState = reference.discOptimizer.getState().tensors;
    for (const [key, t] of trainer.discOptimizer.getState().tensors) expect(values(t), key).toEqual(values(officialState.get(key)!));
  });

  test('projFix keeps linear_proj out of the autoencoder optimiser', () => {
    const model = tinyVAVAE(8);
    const count = (t: VAVAETrainer) => t.aeOptimizer.paramGroups[0]!.params.length;
    expect(count(new VAVAETrainer(model)) - count(new VAVAETrainer(model, { projFix: true }))).toBe(1);
  });
});

describe('LPIPS', () => {
  // VGG16 has 14.7M parameters; one instance serves every check.
  let lpips: LPIPS;
  beforeAll(() => {
    E.manualSeed(4);
    lpips = new LPIPS().to('float64');
  });

  test("taming's keys and shapes, frozen, in eval mode", () => {
    const shapes = new Map([...lpips.stateDict()].map(([k, t]) => [k, t.shape]));
    expect(shapes.get('scaling_layer.shift')).toEqual([1, 3, 1, 1]);
    expect(shapes.get('net.slice1.0.weight')).toEqual([64, 3, 3, 3]);
    expect(shapes.get('net.slice2.7.weight')).toEqual([128, 128, 3, 3]);
    expect(shapes.get('net.slice3.14.weight')).toEqual([256, 256, 3, 3]);
    expect(shapes.get('net.slice4.17.weight')).toEqual([512, 256, 3, 3]);
    expect(shapes.get('net.slice5.28.bias')).toEqual([512]);
    expect(shapes.get('lin4.model.1.weight')).toEqual([1, 512, 1, 1]);
    expect([...shapes.keys()].filter((k) => k.startsWith('net.'))).toHaveLength(26);
    expect(lpips.parameters().every((p) => !p.requiresGrad)).toBe(true);
    expect(lpips.training).toBe(false);
  });

  test('zero for equal images, positive otherwise (non-negative linear weights), gradients reach the image', () => {
    for (const k of [0, 1, 2, 3, 4]) init.uniform_(lpips.stateDict().get(`lin${k}.model.1.weight`)!, 0, 1);
    const x = E.tanh(E.randn([2, 3, 16, 16], f64));
    const y = E.detach(E.tanh(E.randn([2, 3, 16, 16], f64))).requiresGrad_();
    expect(values(lpips.forward(x, x))).toEqual([0, 0]);
    const d = lpips.forward(x, y);
    expect(d.shape).toEqual([2, 1, 1, 1]);
    expect(values(d).every((v) => v > 0)).toBe(true);
    const [g] = E.grad(E.sum(d), [y]);
    expect(values(g!).some((v) => v !== 0)).toBe(true);
    expect(() => lpips.forward(E.zeros([1, 1, 16, 16], f64), E.zeros([1, 1, 16, 16], f64))).toThrow(/RGB/);
  });
});
