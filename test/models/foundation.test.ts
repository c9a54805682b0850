import { describe, expect, test } from 'vitest';
import * as E from '../../engine/index.js';
import type { Tensor } from '../../engine/index.js';
import { init } from '../../nn/index.js';
import {
  AuxFoundationModel,
  DINOV2_CONFIGS,
  VisionTransformer,
  type VisionTransformerConfig,
  bicubicMatrix,
  createDinov2,
  interpolateBicubic,
  resampleAbsPosEmbed,
} from '../../models/foundation/index.js';

/*
 * The foundation encoders: bicubic resampling against PyTorch's and Pillow's numbers, the DINOv2 layouts of timm,
 * and the ViT forward on random weights against the same network written out from its equations.
 */

const f64 = { dtype: 'float64' } as const;

function values(t: Tensor): number[] {
  return Array.from(t.toArraySync());
}

function expectAllClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number): void {
  expect(actual.length).toBe(expected.length);
  let worst = 0;
  for (let i = 0; i < actual.length; i++) worst = Math.max(worst, Math.abs(actual[i]! - expected[i]!));
  expect(worst).toBeLessThanOrEqual(tol);
}

describe('bicubic resampling', () => {
  test("plain (a = −0.75): PyTorch's output for [[1, 2], [3, 4]] at scale 2, overshoot at the edges included", () => {
    // F.interpolate(torch.arange(1., 5.).view(1, 1, 2, 2), scale_factor=2, mode='bicubic', align_corners=False)
    const expected = [
      [0.6836, 1.0156, 1.5625, 1.8945],
      [1.3477, 1.6797, 2.2266, 2.5586],
      [2.4414, 2.7734, 3.3203, 3.6523],
      [3.1055, 3.4375, 3.9844, 4.3164],
    ].flat();
    const y = interpolateBicubic(E.fromArray([1, 2, 3, 4], [1, 1, 2, 2], f64), [4, 4]);
    expectAllClose(values(y), expected, 5e-5);
  });

  test("antialiased (a = −0.5, stretched when shrinking, normalised): Pillow's BICUBIC weights", () => {
    // From Pillow 9.4 resizing unit vectors in mode 'F' with Image.BICUBIC (the filter ATen's antialiased path copies).
    const shrink = [
      [0.38306451, 0.43951613, 0.21370968, 0, -0.032258064, -0.0040322579, 0],
      [-0.030525031, 0.045177046, 0.27594629, 0.41880342, 0.27594629, 0.045177046, -0.030525031],
      [0, -0.0040322579, -0.032258064, 0, 0.21370968, 0.43951613, 0.38306451],
    ];
    const grow = [
      [1.0961539, -0.096153848, 0],
      [0.90581715, 0.10249308, -0.0083102491],
      [0.44044322, 0.62603879, -0.066481993],
      [0, 1, 0],
      [-0.066481993, 0.62603879, 0.44044322],
      [-0.0083102491, 0.10249308, 0.90581715],
      [0, -0.096153848, 1.0961539],
    ];
    expectAllClose(bicubicMatrix(7, 3, { antialias: true }), shrink.flat(), 1e-7);
    expectAllClose(bicubicMatrix(3, 7, { antialias: true }), grow.flat(), 1e-7);
    // DINOv2's 37×37 table to the 16×16 grid of 224² inputs: row 7 spans input pixels 13…21.
    const row7 = Array.from(bicubicMatrix(37, 16, { antialias: true }).subarray(7 * 37, 8 * 37));
    const expected7 = new Array(37).fill(0);
    [-0.016364221, -0.029513305, 0.074067801, 0.32048064, 0.42831403, 0.24359417, 0.018384032, -0.031869754, -0.0070933886].forEach((v, i) => (expected7[13 + i] = v));
    expectAllClose(row7, expected7, 1e-7);
  });

  test('rows sum to 1; equal sizes give the identity; constants stay constant', () => {
    for (const antialias of [false, true]) {
      for (const [n, m] of [[5, 5], [37, 16], [4, 9], [9, 4]] as const) {
        const w = bicubicMatrix(n, m, { antialias });
        for (let i = 0; i < m; i++) expect(w.subarray(i * n, (i + 1) * n).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
        if (n === m) for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) expect(w[i * n + j]).toBe(i === j ? 1 : 0);
      }
    }
    expect(() => bicubicMatrix(0, 3)).toThrow(/positive integers/);
  });

  test("timm's resample_abs_pos_embed: the class row kept, the grid resized, unchanged when it already fits", () => {
    E.manualSeed(1);
    const table = E.randn([1, 1 + 9, 4], f64);
    expect(resampleAbsPosEmbed(table, [3, 3], [3, 3], 1)).toBe(table);
    const resized = resampleAbsPosEmbed(table, [2, 5], [3, 3], 1);
    expect(resized.shape).toEqual([1, 11, 4]);
    expect(values(E.narrow(resized, 1, 0, 1))).toEqual(values(E.narrow(table, 1, 0, 1)));
    // Token (i, j) of the new grid, channel c: Σ_ab R_h[i, a] R_w[j, b] · grid[a, b, c].
    const rh = bicubicMatrix(3, 2, { antialias: true });
    const rw = bicubicMatrix(3, 5, { antialias: true });
    const t = values(table);
    const r = values(resized);
    for (let i = 0; i < 2; i++) {
      for (let j = 0; j < 5; j++) {
        for (let c = 0; c < 4; c++) {
          let v = 0;
          for (let a = 0; a < 3; a++) for (let b = 0; b < 3; b++) v += rh[i * 3 + a]! * rw[j * 3 + b]! * t[(1 + a * 3 + b) * 4 + c]!;
          expect(r[(1 + i * 5 + j) * 4 + c]).toBeCloseTo(v, 12);
        }
      }
    }
    expect(() => resampleAbsPosEmbed(table, [2, 2], [4, 4], 1)).toThrow(/does not hold 1 prefix tokens and a 4×4 grid/);
  });
});

describe('DINOv2 layouts', () => {
  test("timm's registered sizes", () => {
    const size = (c: VisionTransformerConfig) => [c.embedDim, c.depth, c.numHeads, c.patchSize, c.imgSize, c.mlp];
    expect(size(DINOV2_CONFIGS.vit_small_patch14_dinov2)).toEqual([384, 12, 6, 14, 518, 'gelu']);
    expect(size(DINOV2_CONFIGS.vit_base_patch14_dinov2)).toEqual([768, 12, 12, 14, 518, 'gelu']);
    expect(size(DINOV2_CONFIGS.vit_large_patch14_dinov2)).toEqual([1024, 24, 16, 14, 518, 'gelu']);
    expect(size(DINOV2_CONFIGS.vit_giant_patch14_dinov2)).toEqual([1536, 40, 24, 14, 518, 'swiglu']);
  });

  test("timm's state-dict keys and shapes (ViT-S/14 with one block, and ViT-g/14's packed SwiGLU)", () => {
    const small = createDinov2('vit_small_patch14_dinov2', { depth: 1 });
    expect(Object.fromEntries([...small.stateDict()].map(([k, t]) => [k, t.shape]))).toEqual({
      cls_token: [1, 1, 384],
      pos_embed: [1, 1370, 384],
      'patch_embed.proj.weight': [384, 3, 14, 14],
      'patch_embed.proj.bias': [384],
      'blocks.0.norm1.weight': [384],
      'blocks.0.norm1.bias': [384],
      'blocks.0.attn.qkv.weight': [1152, 384],
      'blocks.0.attn.qkv.bias': [1152],
      'blocks.0.attn.proj.weight': [384, 384],
      'blocks.0.attn.proj.bias': [384],
      'blocks.0.ls1.gamma': [384],
      'blocks.0.norm2.weight': [384],
      'blocks.0.norm2.bias': [384],
      'blocks.0.mlp.fc1.weight': [1536, 384],
      'blocks.0.mlp.fc1.bias': [1536],
      'blocks.0.mlp.fc2.weight': [384, 1536],
      'blocks.0.mlp.fc2.bias': [384],
      'blocks.0.ls2.gamma': [384],
      'norm.weight': [384],
      'norm.bias': [384],
    });
    expect(values(small.stateDict().get('blocks.0.ls1.gamma')!).every((g) => Math.abs(g - 1e-5) < 1e-12)).toBe(true);
    const giant = new Map([...createDinov2('vit_giant_patch14_dinov2', { depth: 1, embedDim: 24, numHeads: 2 }).stateDict()].map(([k, t]) => [k, t.shape]));
    // hidden = int(24 · 5.33334) = 128: fc1 24 → 128, fc2 from 64.
    expect(giant.get('blocks.0.mlp.fc1.weight')).toEqual([128, 24]);
    expect(giant.get('blocks.0.mlp.fc2.weight')).toEqual([24, 64]);
  });
});

/* ---------------------------------------------------------------- the ViT written out from its equations */

type Weights = Map<string, Tensor>;

function layerNormRef(x: Tensor, w: Tensor, b: Tensor, eps: number): Tensor {
  const d = x.shape.at(-1)!;
  const mean = E.div(E.sum(x, -1, true), d);
  const centred = E.sub(x, mean);
  const variance = E.div(E.sum(E.mul(centred, centred), -1, true), d);
  return E.add(E.mul(E.div(centred, E.sqrt(E.add(variance, eps))), w), b);
}

function linearRef(x: Tensor, w: Tensor, b: Tensor): Tensor {
  return E.add(E.matmul(x, E.transpose(w)), b);
}

function softmaxRef(s: Tensor): Tensor {
  const e = E.exp(E.sub(s, E.amax(s, -1, true)));
  return E.div(e, E.sum(e, -1, true));
}

/** timm's ViT forward_features, term by term: patchify by reshapes, prepend the class token, add the resampled table, blocks, norm. */
function vitReference(c: VisionTransformerConfig, w: Weights, x: Tensor): Tensor {
  const [b, ch, height, width] = x.shape as [number, number, number, number];
  const p = c.patchSize;
  const [h, gw, d] = [height / p, width / p, c.embedDim];
  // Patch (i, j) flattened in (channel, row, column) order, the order of the conv weight's trailing dims.
  const patches = E.reshape(E.permute(E.reshape(x, [b, ch, h, p, gw, p]), [0, 2, 4, 1, 3, 5]), [b, h * gw, ch * p * p]);
  const embedded = linearRef(patches, E.reshape(w.get('patch_embed.proj.weight')!, [d, ch * p * p]), w.get('patch_embed.proj.bias')!);
  // Position table: class row, then the g₀×g₀ grid resized separably, T[i, j] = Σ_ab R_h[i, a] R_w[j, b] G[a, b].
  const g0 = c.imgSize / p;
  const table = w.get('pos_embed')!;
  const grid = E.reshape(E.narrow(table, 1, 1, g0 * g0), [g0, g0, d]);
  const rh = E.fromArray(bicubicMatrix(g0, h, { antialias: true }), [h, g0], f64);
  const rw = E.fromArray(bicubicMatrix(g0, gw, { antialias: true }), [gw, g0], f64);
  const resizedRows = E.reshape(E.matmul(rh, E.reshape(grid, [g0, g0 * d])), [h, g0, d]);
  const resized = E.reshape(E.permute(E.matmul(rw, E.permute(resizedRows, [1, 0, 2]).reshape([g0, h * d])).reshape([gw, h, d]), [1, 0, 2]), [1, h * gw, d]);
  const pos = h === g0 && gw === g0 ? table : E.cat([E.narrow(table, 1, 0, 1), resized], 1);
  let t = E.add(E.cat([E.expand(w.get('cls_token')!, [b, 1, d]), embedded], 1), pos);
  const n = t.shape[1]!;
  const hd = d / c.numHeads;
  for (let i = 0; i < c.depth; i++) {
    const k = (name: string) => w.get(`blocks.${i}.${name}`)!;
    const a = layerNormRef(t, k('norm1.weight'), k('norm1.bias'), c.normEps);
    const qkv = E.permute(E.reshape(linearRef(a, k('attn.qkv.weight'), k('attn.qkv.bias')), [b, n, 3, c.numHeads, hd]), [2, 0, 3, 1, 4]);
    const [q, kk, v] = [0, 1, 2].map((j) => E.squeeze(E.narrow(qkv, 0, j, 1), 0)) as [Tensor, Tensor, Tensor];
    const attn = E.matmul(softmaxRef(E.div(E.matmul(q, E.transpose(kk)), Math.sqrt(hd))), v);
    const merged = E.reshape(E.transpose(attn, 1, 2), [b, n, d]);
    t = E.add(t, E.mul(linearRef(merged, k('attn.proj.weight'), k('attn.proj.bias')), k('ls1.gamma')));
    const m = layerNormRef(t, k('norm2.weight'), k('norm2.bias'), c.normEps);
    const hidden = linearRef(m, k('mlp.fc1.weight'), k('mlp.fc1.bias'));
    let act: Tensor;
    if (c.mlp === 'gelu') {
      act = E.mul(E.mul(hidden, 0.5), E.add(1, E.erf(E.div(hidden, Math.SQRT2))));
    } else {
      const half = hidden.shape.at(-1)! / 2;
      const gate = E.narrow(hidden, -1, 0, half);
      act = E.mul(E.div(gate, E.add(1, E.exp(E.neg(gate)))), E.narrow(hidden, -1, half, half));
    }
    t = E.add(t, E.mul(linearRef(act, k('mlp.fc2.weight'), k('mlp.fc2.bias')), k('ls2.gamma')));
  }
  return layerNormRef(t, w.get('norm.weight')!, w.get('norm.bias')!, c.normEps);
}

function randomVit(config: VisionTransformerConfig, seed: number): VisionTransformer {
  E.manualSeed(seed);
  const model = new VisionTransformer(config).to('float64');
  for (const [key, p] of model.namedParameters()) {
    if (key.endsWith('gamma') || key.endsWith('norm1.weight') || key.endsWith('norm2.weight') || key === 'norm.weight') init.normal_(p, 1, 0.2);
    else init.normal_(p, 0, key.includes('weight') ? 1 / Math.sqrt(p.shape.at(-1)! * (p.rank === 4 ? p.shape[2]! * p.shape[3]! : 1)) : 0.3);
  }
  return model;
}

const TINY_VIT: VisionTransformerConfig = { imgSize: 8, patchSize: 2, inChans: 3, embedDim: 12, depth: 2, numHeads: 3, mlpRatio: 2, mlp: 'gelu', initValues: 1e-5, normEps: 1e-6 };

describe('VisionTransformer forward (random weights) against the equations', () => {
  const cases: [string, VisionTransformerConfig, number][] = [
    ['GELU MLP, the trained grid (no resampling)', TINY_VIT, 8],
    ['GELU MLP, a larger grid (table enlarged)', TINY_VIT, 12],
    ['GELU MLP, a smaller grid (table shrunk with antialiasing)', TINY_VIT, 6],
    ['packed SwiGLU (ViT-g)', { ...TINY_VIT, mlp: 'swiglu', mlpRatio: 2.66667 * 2 }, 10],
  ];
  for (const [name, config, side] of cases) {
    test(`${name}: ${side}×${side} images`, () => {
      const model = randomVit(config, 5);
      const x = E.randn([2, 3, side, side], f64);
      const ours = model.forwardFeatures(x);
      expect(ours.shape).toEqual([2, 1 + (side / 2) ** 2, 12]);
      expectAllClose(values(ours), values(vitReference(config, model.stateDict(), x)), 1e-12);
    });
  }

  test('patch features [B, D, h, w] are the tokens after the class token, row-major; sides must be multiples of the patch', () => {
    const model = randomVit(TINY_VIT, 6);
    const x = E.randn([1, 3, 6, 10], f64);
    const tokens = values(model.forwardFeatures(x));
    const features = model.forwardPatchFeatures(x);
    expect(features.shape).toEqual([1, 12, 3, 5]);
    const f = values(features);
    // Feature (c, i, j) is channel c of token 1 + 5i + j.
    expect(f[(4 * 3 + 2) * 5 + 3]).toBe(tokens[(1 + 2 * 5 + 3) * 12 + 4]);
    expect(() => model.forwardFeatures(E.randn([1, 3, 7, 8], f64))).toThrow(/multiples of 2/);
  });
});

describe('AuxFoundationModel (the VF loss wrapper)', () => {
  test('resizes bilinearly to the input size, returns frozen patch features without gradients', () => {
    const vit = randomVit(TINY_VIT, 7);
    const aux = new AuxFoundationModel(vit, 8);
    expect(aux.featureDim).toBe(12);
    expect(aux.gridSize).toBe(4);
    expect(vit.parameters().every((p) => !p.requiresGrad)).toBe(true);
    const x = E.randn([2, 3, 16, 16], f64).requiresGrad_();
    const features = aux.forward(x);
    expect(features.shape).toEqual([2, 12, 4, 4]);
    expect(features.requiresGrad).toBe(false);
    expectAllClose(values(features), values(E.noGrad(() => vit.forwardPatchFeatures(E.interpolateBilinear(x, [8, 8])))), 0);
    expect([...aux.stateDict().keys()][0]).toBe('model.cls_token');
  });
});
