import { describe, expect, test } from 'vitest';
import * as E from '../../../engine/index.js';
import type { Tensor } from '../../../engine/index.js';
import { assertGradcheck } from '../../../engine/gradcheck/index.js';
import { LayerNorm, Linear, RMSNorm, get2dSincosPosEmbed, init } from '../../../nn/index.js';
import {
  DEFAULT_CONFIG,
  LIGHTNINGDIT_SIZES,
  LabelEmbedder,
  LightningDiT,
  type LightningDiTConfig,
  RELEASED_CONFIG,
  RELEASED_FLAGS,
  configFromOfficial,
  lightningDiTConfig,
  swigluHiddenSize,
  timestepEmbedding,
} from '../../../models/lightningdit/index.js';

/*
 * LightningDiT's structure and initialisation (the numbers themselves are checked against PyTorch in
 * test/parity/lightningdit.test.ts, which covers patch size 1; patch size 2 is checked here).
 */

const small: Partial<LightningDiTConfig> = { inputSize: 4, patchSize: 1, inChannels: 4, hiddenSize: 32, depth: 2, numHeads: 2, numClasses: 5, ...RELEASED_FLAGS };

function values(t: Tensor): number[] {
  return Array.from(t.toArraySync());
}

function std(xs: number[]): number {
  const m = xs.reduce((a, b) => a + b, 0) / xs.length;
  return Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / xs.length);
}

function inputs(model: LightningDiT, batch = 2, dtype: 'float32' | 'float64' = 'float32') {
  const { inChannels, inputSize, numClasses } = model.config;
  const gen = new E.Generator(5);
  return {
    x: E.randn([batch, inChannels, inputSize, inputSize], { dtype, generator: gen }),
    t: E.rand([batch], { dtype, generator: gen }),
    y: E.randint(0, numClasses, [batch], { generator: gen }),
  };
}

/** Every parameter but pos_embed redrawn small and non-zero, so no path of the model is switched off. */
function randomize(model: LightningDiT): LightningDiT {
  const gen = new E.Generator(9);
  for (const [name, p] of model.namedParameters()) if (name !== 'pos_embed') init.normal_(p, 0, 0.3, { generator: gen });
  return model;
}

describe('initialisation (official initialize_weights)', () => {
  const model = new LightningDiT({ ...small, numClasses: 1000 });

  test('adaLN-Zero: the model outputs exactly 0 and every block is the identity', () => {
    const { x, t, y } = inputs(model);
    expect(values(model.forward(x, t, y)).every((v) => v === 0)).toBe(true);
    const tokens = E.randn([2, 16, 32]);
    const c = E.randn([2, 32]);
    for (const block of model.blocks) expect(values(block.forward(tokens, c, model.feat_rope ?? undefined))).toEqual(values(tokens));
  });

  test('xavier-uniform Linears on their fused shapes, zero biases', () => {
    const block = model.blocks.at(0);
    const bound = (fanIn: number, fanOut: number) => Math.sqrt(6 / (fanIn + fanOut));
    for (const [linear, fanOut] of [
      [block.attn.qkv, 96],
      [block.attn.proj, 32],
      [(block.mlp as unknown as { w12: Linear }).w12, 2 * swigluHiddenSize(32, 4)],
    ] as const) {
      const w = values(linear.weight);
      expect(Math.max(...w.map(Math.abs))).toBeLessThanOrEqual(bound(32, fanOut));
      // U(−b, b) has standard deviation b/√3.
      expect(std(w) / (bound(32, fanOut) / Math.sqrt(3))).toBeCloseTo(1, 1);
      expect(values(linear.bias!).every((v) => v === 0)).toBe(true);
    }
  });

  test('the patch embedding is xavier-uniform as a Linear [D, C·p·p]; the label table and t-MLP weights are N(0, 0.02²)', () => {
    const conv = values(model.x_embedder.proj.weight);
    expect(Math.max(...conv.map(Math.abs))).toBeLessThanOrEqual(Math.sqrt(6 / (4 + 32)));
    expect(std(conv)).toBeGreaterThan(0.5 * Math.sqrt(6 / 36 / 3));
    expect(values(model.x_embedder.proj.bias!).every((v) => v === 0)).toBe(true);
    expect(std(values(model.y_embedder.embedding_table.weight))).toBeCloseTo(0.02, 3);
    expect(std(values((model.t_embedder.mlp.at(0) as Linear).weight))).toBeCloseTo(0.02, 3);
    expect(values((model.t_embedder.mlp.at(0) as Linear).bias!).every((v) => v === 0)).toBe(true);
  });

  test('norm weights are 1, pos_embed is the fixed sin-cos table and frozen', () => {
    for (const m of model.modules()) if (m instanceof RMSNorm) expect(values(m.weight!).every((v) => v === 1)).toBe(true);
    expect(values(model.pos_embed)).toEqual(values(get2dSincosPosEmbed(32, 4)));
    expect(model.pos_embed.requiresGrad).toBe(false);
    expect(model.namedParameters().map(([k]) => k)).toContain('pos_embed');
  });
});

describe('structure', () => {
  test('XL/1 (released) has 675,256,736 parameters, pos_embed included', () => {
    // Built with one block (the other 27 are identical), so the test allocates 30M parameters instead of 675M.
    const oneBlock = new LightningDiT({ ...RELEASED_CONFIG, depth: 1 });
    const perBlock = oneBlock.blocks.at(0).numParameters();
    expect(oneBlock.numParameters() + (RELEASED_CONFIG.depth - 1) * perBlock).toBe(675_256_736);
    expect(oneBlock.numParameters({ trainableOnly: true })).toBe(oneBlock.numParameters() - 256 * 1152);
  });

  test('SwiGLU hidden widths: int(2/3·4D) without rounding', () => {
    const widths = { 768: 2048, 1024: 2730, 1152: 3072, 1536: 4096, 1792: 4778 };
    for (const [d, h] of Object.entries(widths)) expect(swigluHiddenSize(Number(d), 4)).toBe(h);
  });

  test('the flags choose the layers: norms, qk-norm, FFN, adaLN width, output channels', () => {
    const released = new LightningDiT(small).blocks.at(0);
    expect(released.norm1).toBeInstanceOf(RMSNorm);
    expect(released.adaLN_modulation.at(-1)).toHaveProperty('outFeatures', 6 * 32);
    const alt = new LightningDiT({ ...small, useRmsnorm: false, useSwiglu: false, useQknorm: true, woShift: true, useRope: false, learnSigma: true });
    const block = alt.blocks.at(0);
    expect(block.norm1).toBeInstanceOf(LayerNorm);
    expect((block.norm1 as LayerNorm).weight).toBeNull();
    expect(block.attn.q_norm).toBeInstanceOf(LayerNorm);
    expect(block.adaLN_modulation.at(-1)).toHaveProperty('outFeatures', 4 * 32);
    expect(alt.feat_rope).toBeNull();
    expect(alt.final_layer.linear.outFeatures).toBe(2 * 4);
    expect([...alt.stateDict().keys()]).toContain('blocks.0.mlp.fc1.weight');
    expect(new LightningDiT({ ...small, useQknorm: true }).blocks.at(0).attn.q_norm).toBeInstanceOf(RMSNorm);
    const { x, t, y } = inputs(alt);
    expect(randomize(alt).forward(x, t, y).shape).toEqual([2, 4, 4, 4]);
  });

  test('the registry: official sizes, released flags, and sizes that cannot be overridden', () => {
    expect(Object.keys(LIGHTNINGDIT_SIZES)).toEqual(expect.arrayContaining(['LightningDiT-B/1', 'LightningDiT-B/2', 'LightningDiT-L/2', 'LightningDiT-XL/1', 'LightningDiT-XL/2', 'LightningDiT-1p0B/1', 'LightningDiT-1p0B/2', 'LightningDiT-1p6B/1', 'LightningDiT-1p6B/2']));
    expect(LIGHTNINGDIT_SIZES['LightningDiT-L/1']).toBeUndefined();
    expect(lightningDiTConfig('LightningDiT-XL/2', { inputSize: 16 })).toMatchObject({ depth: 28, hiddenSize: 1152, numHeads: 16, patchSize: 2, inputSize: 16, inChannels: 32 });
    expect(RELEASED_CONFIG).toMatchObject({ patchSize: 1, inputSize: 16, useSwiglu: true, useRope: true, useRmsnorm: true, useQknorm: false, woShift: false, learnSigma: false });
    expect(() => lightningDiTConfig('LightningDiT-XL/1', { depth: 2 })).toThrow(/cannot be overridden/);
    expect(() => lightningDiTConfig('LightningDiT-XXL/1')).toThrow(/unknown/);
  });

  test('official keyword arguments map onto the config', () => {
    expect(configFromOfficial({ input_size: 8, use_rope: true, class_dropout_prob: 0 })).toEqual({ ...DEFAULT_CONFIG, inputSize: 8, useRope: true, classDropoutProb: 0 });
    expect(() => configFromOfficial({ use_flash: true })).toThrow(/unknown/);
    expect(() => configFromOfficial({ depth: '2' })).toThrow(/number/);
  });
});

describe('patches', () => {
  const model = randomize(new LightningDiT({ ...small, patchSize: 2, inputSize: 4, inChannels: 3 }));

  test('patch embedding: token (h, w) = conv of the p×p patch at (h·p, w·p), tokens row-major', () => {
    const x = E.randn([1, 3, 4, 4], { generator: new E.Generator(1) });
    const tokens = model.x_embedder.forward(x);
    expect(tokens.shape).toEqual([1, 4, 32]);
    const [xv, w, b, out] = [values(x), values(model.x_embedder.proj.weight), values(model.x_embedder.proj.bias!), values(tokens)];
    for (let h = 0; h < 2; h++) {
      for (let col = 0; col < 2; col++) {
        for (let d = 0; d < 32; d += 7) {
          let sum = b[d]!;
          for (let c = 0; c < 3; c++) for (let i = 0; i < 2; i++) for (let j = 0; j < 2; j++) sum += w[((d * 3 + c) * 2 + i) * 2 + j]! * xv[c * 16 + (2 * h + i) * 4 + (2 * col + j)]!;
          expect(out[(h * 2 + col) * 32 + d]).toBeCloseTo(sum, 5);
        }
      }
    }
  });

  test('unpatchify: pixel (c, h·p + i, w·p + j) = token(h, w)[(i·p + j)·C + c]', () => {
    const tokens = E.arange(0, 4 * 12).reshape([1, 4, 12]);
    const image = values(model.unpatchify(tokens));
    for (let c = 0; c < 3; c++) {
      for (let h = 0; h < 2; h++) {
        for (let w = 0; w < 2; w++) {
          for (let i = 0; i < 2; i++) for (let j = 0; j < 2; j++) expect(image[c * 16 + (2 * h + i) * 4 + (2 * w + j)]).toBe((h * 2 + w) * 12 + (i * 2 + j) * 3 + c);
        }
      }
    }
  });

  test('the gradient of the whole model (patch 2, RoPE, SwiGLU, RMSNorm) passes gradcheck in float64', () => {
    const model64 = randomize(new LightningDiT({ ...small, patchSize: 2, inputSize: 4, depth: 1 })).eval().to('float64');
    const { x, t, y } = inputs(model64, 1, 'float64');
    assertGradcheck((xx, tt) => model64.forward(xx, tt, y), [x, t], { name: 'LightningDiT' });
  });
});

describe('conditioning', () => {
  test('timestep embedding: [cos(t·f) ‖ sin(t·f)] with f_k = 10000^(−k/half), t used as is', () => {
    const emb = values(timestepEmbedding(E.tensor([0.3], { dtype: 'float64' }), 8));
    const f = [0, 1, 2, 3].map((k) => Math.exp((-Math.log(10000) * k) / 4));
    f.forEach((fk, k) => {
      expect(emb[k]).toBeCloseTo(Math.cos(0.3 * fk), 15);
      expect(emb[4 + k]).toBeCloseTo(Math.sin(0.3 * fk), 15);
    });
    expect(values(timestepEmbedding(E.tensor([0.3]), 7))).toHaveLength(7);
  });

  test('label dropout: the null row numClasses exists; in train mode labels drop to it, in eval they do not', () => {
    const embedder = new LabelEmbedder(5, 4, 1);
    expect(embedder.embedding_table.weight.shape).toEqual([6, 4]);
    const labels = E.tensor([0, 3, 4], { dtype: 'int32' });
    const nullRow = values(embedder.embedding_table.weight).slice(20, 24);
    expect(values(embedder.forward(labels))).toEqual([...nullRow, ...nullRow, ...nullRow]);
    expect(values(embedder.eval().forward(labels)).slice(4, 8)).toEqual(values(embedder.embedding_table.weight).slice(12, 16));
    expect(new LabelEmbedder(5, 4, 0).embedding_table.weight.shape).toEqual([5, 4]);
  });

  test('forwardWithCfg uses only the first half of the batch and the labels [y; null]', () => {
    const model = randomize(new LightningDiT(small)).eval();
    const { x } = inputs(model, 2);
    const t = E.full([4], 0.5);
    const y = E.tensor([1, 2, model.nullLabel, model.nullLabel], { dtype: 'int32' });
    const doubled = E.cat([x, E.zerosLike(x)], 0);
    const guided = model.forwardWithCfg(doubled, t, y, 1, { guidedChannels: 'all' });
    // Scale 1 is the conditional velocity of the first half.
    const cond = model.forward(x, E.full([2], 0.5), E.tensor([1, 2], { dtype: 'int32' }));
    values(E.narrow(guided, 0, 0, 2)).forEach((v, i) => expect(v).toBeCloseTo(values(cond)[i]!, 5));
  });
});
