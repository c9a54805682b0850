import { existsSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { type Tensor, fromArray, manualSeed, randn, sum } from '../../engine/index.js';
import { loadSafetensors } from '../../engine/safetensors.js';
import {
  Attention,
  Conv2d,
  Dropout,
  Embedding,
  GELU,
  GroupNorm,
  Identity,
  LayerNorm,
  Linear,
  Mlp,
  type Module,
  ModuleList,
  RMSNorm,
  ReLU,
  SiLU,
  Sequential,
  SwiGLUFFN,
  VisionRotaryEmbeddingFast,
  get2dSincosPosEmbed,
  init,
  rotateHalf,
} from '../../nn/index.js';

/*
 * Each layer's forward against a direct computation in plain float64 JavaScript loops over the layer's own
 * parameter values, plus its state-dict keys and parameter count.
 */

const values = (t: Tensor) => Array.from(t.toArraySync());
const keys = (m: Module) => [...m.stateDict().keys()];

function expectAllClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol = 2e-5): void {
  expect(actual.length).toBe(expected.length);
  const scale = Math.max(1, ...Array.from(expected, Math.abs));
  for (let i = 0; i < actual.length; i++) {
    if (!(Math.abs(actual[i]! - expected[i]!) <= tol * scale)) expect.fail(`element ${i}: ${actual[i]} vs ${expected[i]} (tol ${tol * scale})`);
  }
}

/** Rows of x [n, in] times Wᵀ [in, out] plus b. */
function affine(x: number[], n: number, w: number[], out: number, b: number[] | null): number[] {
  const inF = w.length / out;
  const y: number[] = [];
  for (let r = 0; r < n; r++) {
    for (let o = 0; o < out; o++) {
      let s = b ? b[o]! : 0;
      for (let i = 0; i < inF; i++) s += x[r * inF + i]! * w[o * inF + i]!;
      y.push(s);
    }
  }
  return y;
}

const geluExact = (v: number) => 0.5 * v * (1 + erf(v / Math.SQRT2));
const geluTanh = (v: number) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)));
const siluOf = (v: number) => v / (1 + Math.exp(-v));
/** erf by its Maclaurin series (converges quickly for the |x| < 4 used here). */
function erf(x: number): number {
  let term = x;
  let s = x;
  for (let n = 1; n < 80; n++) {
    term *= (-x * x) / n;
    s += term / (2 * n + 1);
  }
  return (2 / Math.sqrt(Math.PI)) * s;
}

function randomInput(shape: number[], seed: number): Tensor {
  manualSeed(seed);
  return randn(shape);
}

describe('Linear and Conv2d', () => {
  test('Linear: x·Wᵀ + b over any leading dims; keys weight, bias', () => {
    manualSeed(1);
    const lin = new Linear(3, 4);
    const x = randomInput([2, 2, 3], 2);
    expect(lin.forward(x).shape).toEqual([2, 2, 4]);
    expectAllClose(values(lin.forward(x)), affine(values(x), 4, values(lin.weight), 4, values(lin.bias!)));
    expect(keys(lin)).toEqual(['weight', 'bias']);
    expect(lin.numParameters()).toBe(16);
    const noBias = new Linear(3, 4, { bias: false });
    expect(keys(noBias)).toEqual(['weight']);
    expectAllClose(values(noBias.forward(x)), affine(values(x), 4, values(noBias.weight), 4, null));
  });

  test('Conv2d with stride, padding, dilation and groups against direct summation', () => {
    manualSeed(3);
    const conv = new Conv2d(4, 6, [3, 2], { stride: [2, 1], padding: [1, 0], dilation: [1, 2], groups: 2 });
    expect(conv.weight.shape).toEqual([6, 2, 3, 2]);
    expect(conv.numParameters()).toBe(6 * 2 * 3 * 2 + 6);
    const [n, c, h, wd] = [2, 4, 5, 5];
    const x = randomInput([n, c, h, wd], 4);
    const y = conv.forward(x);
    const [oh, ow] = [Math.floor((h + 2 - 3) / 2) + 1, wd - 2 * (2 - 1) - 1 + 1];
    expect(y.shape).toEqual([n, 6, oh, ow]);
    const xv = values(x);
    const wv = values(conv.weight);
    const bv = values(conv.bias!);
    const expected: number[] = [];
    for (let b = 0; b < n; b++) {
      for (let o = 0; o < 6; o++) {
        const g = Math.floor(o / 3);
        for (let i = 0; i < oh; i++) {
          for (let j = 0; j < ow; j++) {
            let s = bv[o]!;
            for (let ci = 0; ci < 2; ci++) {
              for (let ki = 0; ki < 3; ki++) {
                for (let kj = 0; kj < 2; kj++) {
                  const r = i * 2 - 1 + ki;
                  const q = j + kj * 2;
                  if (r < 0 || r >= h || q < 0 || q >= wd) continue;
                  s += xv[((b * c + g * 2 + ci) * h + r) * wd + q]! * wv[((o * 2 + ci) * 3 + ki) * 2 + kj]!;
                }
              }
            }
            expected.push(s);
          }
        }
      }
    }
    expectAllClose(values(y), expected);
    expect(() => new Conv2d(3, 4, 1, { groups: 2 })).toThrow(/divisible by groups/);
  });
});

describe('normalisation layers', () => {
  /** Standardise each group of `size` consecutive values, then apply a per-element affine. */
  function standardise(x: number[], size: number, eps: number, affineAt: (flat: number) => [number, number], rms = false): number[] {
    const out: number[] = [];
    for (let s = 0; s < x.length; s += size) {
      const part = x.slice(s, s + size);
      const mean = rms ? 0 : part.reduce((a, b) => a + b, 0) / size;
      const v = part.reduce((a, b) => a + (b - mean) ** 2, 0) / size;
      part.forEach((p, k) => {
        const [w, b] = affineAt(s + k);
        out.push(((p - mean) / Math.sqrt(v + eps)) * w + b);
      });
    }
    return out;
  }

  test('GroupNorm: per sample and group of channels; keys weight, bias', () => {
    const gn = new GroupNorm(2, 4, { eps: 1e-6 });
    init.uniform_(gn.weight!, 0.5, 1.5);
    init.uniform_(gn.bias!, -1, 1);
    const x = randomInput([2, 4, 3], 5);
    const w = values(gn.weight!);
    const b = values(gn.bias!);
    const channel = (flat: number) => Math.floor(flat / 3) % 4;
    expectAllClose(values(gn.forward(x)), standardise(values(x), 6, 1e-6, (f) => [w[channel(f)]!, b[channel(f)]!]));
    expect(keys(gn)).toEqual(['weight', 'bias']);
    expect(keys(new GroupNorm(2, 4, { affine: false }))).toEqual([]);
    expect(() => new GroupNorm(3, 4)).toThrow(/do not split/);
  });

  test('LayerNorm with and without elementwise affine', () => {
    const ln = new LayerNorm([2, 3]);
    init.uniform_(ln.weight!, 0.5, 1.5);
    init.uniform_(ln.bias!, -1, 1);
    const x = randomInput([4, 2, 3], 6);
    const w = values(ln.weight!);
    const b = values(ln.bias!);
    expectAllClose(values(ln.forward(x)), standardise(values(x), 6, 1e-5, (f) => [w[f % 6]!, b[f % 6]!]));
    const plain = new LayerNorm(3, { elementwiseAffine: false, eps: 1e-6 });
    expect(keys(plain)).toEqual([]);
    expectAllClose(values(plain.forward(x)), standardise(values(x), 3, 1e-6, () => [1, 0]));
    expect(keys(new LayerNorm(3, { bias: false }))).toEqual(['weight']);
  });

  test('RMSNorm: x/√(mean(x²) + 1e-6)·weight by default', () => {
    const rms = new RMSNorm(4);
    init.uniform_(rms.weight!, 0.5, 1.5);
    const x = randomInput([3, 4], 7);
    const w = values(rms.weight!);
    expectAllClose(values(rms.forward(x)), standardise(values(x), 4, 1e-6, (f) => [w[f % 4]!, 0], true));
    expect(keys(rms)).toEqual(['weight']);
    expectAllClose(values(new RMSNorm(4, { eps: 0.5, elementwiseAffine: false }).forward(x)), standardise(values(x), 4, 0.5, () => [1, 0], true));
  });
});

describe('Embedding, Dropout, activations, containers', () => {
  test('Embedding picks rows', () => {
    const e = new Embedding(5, 3);
    const w = values(e.weight);
    const y = e.forward(fromArray([4, 0, 4], [3], { dtype: 'int32' }));
    expect(y.shape).toEqual([3, 3]);
    expect(values(y)).toEqual([...w.slice(12, 15), ...w.slice(0, 3), ...w.slice(12, 15)]);
    expect(keys(e)).toEqual(['weight']);
  });

  test('Dropout zeroes a fraction p and scales the rest by 1/(1 − p); seeded; identity in eval', () => {
    const n = 20000;
    const x = fromArray(new Array<number>(n).fill(2), [n]);
    const drop = new Dropout(0.25);
    manualSeed(8);
    const y = values(drop.forward(x));
    manualSeed(8);
    expect(values(drop.forward(x))).toEqual(y);
    expect(y.every((v) => v === 0 || Math.abs(v - 2 / 0.75) < 1e-6)).toBe(true);
    const zeros = y.filter((v) => v === 0).length / n;
    expect(Math.abs(zeros - 0.25)).toBeLessThan(6 * Math.sqrt((0.25 * 0.75) / n));
    expect(values(new Dropout(1).forward(x)).every((v) => v === 0)).toBe(true);
    drop.eval();
    expect(drop.forward(x)).toBe(x);
    expect(() => new Dropout(1.5)).toThrow(/probability/);
  });

  test('activations as modules match their formulas', () => {
    const v = [-3, -1.5, -0.25, 0, 0.5, 2, 3.5];
    const x = fromArray(v, [7], { dtype: 'float64' });
    expectAllClose(values(new GELU().forward(x)), v.map(geluExact), 1e-12);
    expectAllClose(values(new GELU('tanh').forward(x)), v.map(geluTanh), 1e-12);
    expectAllClose(values(new SiLU().forward(x)), v.map(siluOf), 1e-12);
    expect(values(new ReLU().forward(x))).toEqual(v.map((a) => Math.max(a, 0)));
    expect(new Identity().forward(x)).toBe(x);
  });

  test('Sequential composes and names children by position; ModuleList indexes', () => {
    manualSeed(9);
    const seq = new Sequential(new Linear(3, 5), new SiLU(), new Linear(5, 2));
    expect(keys(seq)).toEqual(['0.weight', '0.bias', '2.weight', '2.bias']);
    const x = randomInput([4, 3], 10);
    const [l0, , l2] = [...seq] as [Linear, SiLU, Linear];
    const hidden = affine(values(x), 4, values(l0.weight), 5, values(l0.bias!)).map(siluOf);
    expectAllClose(values(seq.forward(x)), affine(hidden, 4, values(l2.weight), 2, values(l2.bias!)));
    const list = new ModuleList([new Identity(), new ReLU()]);
    expect(list.length).toBe(2);
    expect(list.at(-1)).toBeInstanceOf(ReLU);
    expect(() => list.at(2)).toThrow(/out of range/);
  });
});

describe('feed-forward blocks', () => {
  test("timm Mlp: fc1 → GELU(tanh) → fc2 with timm's keys", () => {
    manualSeed(11);
    const mlp = new Mlp(4, { hiddenFeatures: 16, actLayer: () => new GELU('tanh') });
    expect(keys(mlp)).toEqual(['fc1.weight', 'fc1.bias', 'fc2.weight', 'fc2.bias']);
    expect(mlp.numParameters()).toBe(4 * 16 + 16 + 16 * 4 + 4);
    const x = randomInput([3, 4], 12);
    const h = affine(values(x), 3, values(mlp.fc1.weight), 16, values(mlp.fc1.bias!)).map(geluTanh);
    expectAllClose(values(mlp.forward(x)), affine(h, 3, values(mlp.fc2.weight), 4, values(mlp.fc2.bias!)));
  });

  test('SwiGLUFFN: w3(SiLU(first half of w12 x) ⊙ second half), with LightningDiT-tiny shapes', () => {
    manualSeed(13);
    const hidden = Math.trunc((2 / 3) * 4 * 64); // int(2/3 · mlp_ratio · D) = 170, not rounded
    const ffn = new SwiGLUFFN(64, hidden);
    expect(keys(ffn)).toEqual(['w12.weight', 'w12.bias', 'w3.weight', 'w3.bias']);
    expect([ffn.w12.weight.shape, ffn.w3.weight.shape]).toEqual([[340, 64], [64, 170]]);
    const x = randomInput([2, 64], 14);
    const both = affine(values(x), 2, values(ffn.w12.weight), 340, values(ffn.w12.bias!));
    const gated = [0, 1].flatMap((r) => Array.from({ length: 170 }, (_, k) => siluOf(both[r * 340 + k]!) * both[r * 340 + 170 + k]!));
    expectAllClose(values(ffn.forward(x)), affine(gated, 2, values(ffn.w3.weight), 64, values(ffn.w3.bias!)));
  });
});

describe('attention and position embeddings', () => {
  test('rotateHalf turns adjacent pairs: [0..7] → [−1, 0, −3, 2, −5, 4, −7, 6]', () => {
    expect(values(rotateHalf(fromArray([0, 1, 2, 3, 4, 5, 6, 7], [8])))).toEqual([-1, 0, -3, 2, -5, 4, -7, 6]);
  });

  test('VisionRotaryEmbeddingFast: row angles in the first half, column angles in the second, pairs repeated', () => {
    const dim = 4; // head_dim 8
    const L = 3;
    const rope = new VisionRotaryEmbeddingFast(dim, L);
    expect(keys(rope)).toEqual(['freqs_cos', 'freqs_sin']);
    expect(rope.numParameters()).toBe(0);
    expect(rope.freqs_cos.shape).toEqual([9, 8]);
    const freqs = [1, 10000 ** (-2 / 4)];
    const cos = values(rope.freqs_cos);
    const sin = values(rope.freqs_sin);
    for (let r = 0; r < L; r++) {
      for (let c = 0; c < L; c++) {
        const angles = [r * freqs[0]!, r * freqs[0]!, r * freqs[1]!, r * freqs[1]!, c * freqs[0]!, c * freqs[0]!, c * freqs[1]!, c * freqs[1]!];
        expectAllClose(cos.slice((r * L + c) * 8, (r * L + c + 1) * 8), angles.map(Math.cos), 1e-7);
        expectAllClose(sin.slice((r * L + c) * 8, (r * L + c + 1) * 8), angles.map(Math.sin), 1e-7);
      }
    }
    // forward rotates each pair (x0, x1) by its angle a: (x0·cos a − x1·sin a, x1·cos a + x0·sin a)
    const x = randomInput([2, 9, 8], 15);
    const xv = values(x);
    const expected = xv.map((v, i) => {
      const j = i % 72;
      const partner = j % 2 === 0 ? -xv[i + 1]! : xv[i - 1]!;
      return v * cos[j]! + partner * sin[j]!;
    });
    expectAllClose(values(rope.forward(x)), expected, 1e-6);
    expect(() => new VisionRotaryEmbeddingFast(3, 4)).toThrow(/even/);
  });

  const fixture = new URL('../../../shared/fixtures/lightningdit_tiny.safetensors', import.meta.url).pathname;
  test.skipIf(!existsSync(fixture))('tables equal the official ones stored in the LightningDiT fixture', async () => {
    const { tensors } = await loadSafetensors(fixture);
    // pos_embed is built in float64 and rounded once, as numpy: bit for bit.
    expect(values(get2dSincosPosEmbed(64, 8))).toEqual(values(tensors.get('pos_embed')!));
    // The official RoPE tables come from float32 cos/sin, which are not correctly rounded; ours are: ≤ 1 ulp apart.
    const rope = new VisionRotaryEmbeddingFast(8, 8);
    for (const name of ['freqs_cos', 'freqs_sin'] as const) {
      const ours = values(rope[name]);
      const theirs = values(tensors.get(`feat_rope.${name}`)!);
      expect(ours.length).toBe(theirs.length);
      ours.forEach((v, i) => expect(Math.abs(v - theirs[i]!)).toBeLessThanOrEqual(2 ** -24 * Math.max(Math.abs(v), 2 ** -1) * 2));
    }
  });

  const altFixture = new URL('../../../shared/fixtures/lightningdit_tiny_altflags.safetensors', import.meta.url).pathname;
  test.skipIf(!existsSync(fixture) || !existsSync(altFixture))('the official LightningDiT state-dict entries load strictly into these layers', async () => {
    const part = (tensors: Map<string, Tensor>, prefix: string) =>
      new Map([...tensors].filter(([k]) => k.startsWith(prefix)).map(([k, t]) => [k.slice(prefix.length), t]));
    const released = (await loadSafetensors(fixture)).tensors;
    const alt = (await loadSafetensors(altFixture)).tensors;
    const cases: [Module, Map<string, Tensor>][] = [
      [new Attention(64, 4, { qkvBias: true }), part(released, 'blocks.0.attn.')],
      [new SwiGLUFFN(64, 170), part(released, 'blocks.0.mlp.')],
      [new RMSNorm(64), part(released, 'blocks.0.norm1.')],
      [new Sequential(new SiLU(), new Linear(64, 384)), part(released, 'blocks.0.adaLN_modulation.')],
      [new Sequential(new Linear(256, 64), new SiLU(), new Linear(64, 64)), part(released, 't_embedder.mlp.')],
      [new Conv2d(8, 64, 1), part(released, 'x_embedder.proj.')],
      [new Embedding(11, 64), part(released, 'y_embedder.embedding_table.')],
      [new VisionRotaryEmbeddingFast(8, 8), part(released, 'feat_rope.')],
      [new Attention(64, 4, { qkvBias: true, qkNorm: (hd) => new LayerNorm(hd) }), part(alt, 'blocks.0.attn.')],
      [new Mlp(64, { hiddenFeatures: 256, actLayer: () => new GELU('tanh') }), part(alt, 'blocks.0.mlp.')],
    ];
    for (const [layer, state] of cases) {
      expect(state.size).toBeGreaterThan(0);
      layer.loadStateDict(state);
      for (const [k, t] of layer.stateDict()) expect(values(t)).toEqual(values(state.get(k)!));
    }
  });

  test('get2dSincosPosEmbed: [sin, cos] of the column, then [sin, cos] of the row', () => {
    const D = 8;
    const G = 3;
    const table = values(get2dSincosPosEmbed(D, G, { dtype: 'float64' }));
    const omega = [1, 1 / 100];
    for (let r = 0; r < G; r++) {
      for (let c = 0; c < G; c++) {
        const expected = [c, r].flatMap((p) => [...omega.map((w) => Math.sin(p * w)), ...omega.map((w) => Math.cos(p * w))]);
        expectAllClose(table.slice((r * G + c) * D, (r * G + c + 1) * D), expected, 1e-15);
      }
    }
    expect(() => get2dSincosPosEmbed(6, 2)).toThrow(/multiple of 4/);
  });

  type HeadMap = (v: number[], token: number) => number[];
  const same: HeadMap = (v) => v;

  /** softmax(q·kᵀ/√d)·v per batch and head, from the layer's own weights, after per-head maps of q and k. */
  function directAttention(attn: Attention, x: number[], b: number, n: number, mapQ: HeadMap, mapK: HeadMap): number[] {
    const dim = attn.dim;
    const heads = attn.numHeads;
    const hd = dim / heads;
    const qkv = affine(x, b * n, values(attn.qkv.weight), 3 * dim, attn.qkv.bias ? values(attn.qkv.bias) : null);
    const pick = (bi: number, t: number, which: number, h: number) => qkv.slice((bi * n + t) * 3 * dim + which * dim + h * hd, (bi * n + t) * 3 * dim + which * dim + (h + 1) * hd);
    const merged = new Array<number>(b * n * dim).fill(0);
    for (let bi = 0; bi < b; bi++) {
      for (let h = 0; h < heads; h++) {
        const q = Array.from({ length: n }, (_, t) => mapQ(pick(bi, t, 0, h), t));
        const k = Array.from({ length: n }, (_, t) => mapK(pick(bi, t, 1, h), t));
        for (let t = 0; t < n; t++) {
          const scores = k.map((kv) => kv.reduce((a, kj, j) => a + kj * q[t]![j]!, 0) / Math.sqrt(hd));
          const m = Math.max(...scores);
          const e = scores.map((s) => Math.exp(s - m));
          const z = e.reduce((a, v) => a + v, 0);
          for (let s = 0; s < n; s++) {
            const v = pick(bi, s, 2, h);
            for (let j = 0; j < hd; j++) merged[(bi * n + t) * dim + h * hd + j]! += (e[s]! / z) * v[j]!;
          }
        }
      }
    }
    return affine(merged, b * n, values(attn.proj.weight), dim, values(attn.proj.bias!));
  }

  test("Attention (timm's fused qkv) against a per-head computation; keys qkv, proj", () => {
    manualSeed(16);
    const attn = new Attention(8, 2, { qkvBias: true });
    expect(keys(attn)).toEqual(['qkv.weight', 'qkv.bias', 'proj.weight', 'proj.bias']);
    expect(attn.numParameters()).toBe(8 * 24 + 24 + 8 * 8 + 8);
    expect(keys(new Attention(8, 2))).toEqual(['qkv.weight', 'proj.weight', 'proj.bias']);
    const x = randomInput([2, 5, 8], 17);
    expectAllClose(values(attn.forward(x)), directAttention(attn, values(x), 2, 5, same, same));
    expect(() => attn.forward(randomInput([5, 8], 1))).toThrow(/expected input \[B, N, 8\]/);
    expect(() => new Attention(8, 3)).toThrow(/split evenly/);
  });

  test('Attention with qk LayerNorm and RoPE on q and k; gradients reach every parameter', () => {
    manualSeed(18);
    const attn = new Attention(16, 2, { qkvBias: true, qkNorm: (hd) => new LayerNorm(hd) });
    expect(keys(attn)).toEqual(['qkv.weight', 'qkv.bias', 'q_norm.weight', 'q_norm.bias', 'k_norm.weight', 'k_norm.bias', 'proj.weight', 'proj.bias']);
    for (const p of [attn.q_norm, attn.k_norm] as LayerNorm[]) {
      init.uniform_(p.weight!, 0.5, 1.5);
      init.uniform_(p.bias!, -0.5, 0.5);
    }
    const rope = new VisionRotaryEmbeddingFast(4, 2); // head_dim 8, a 2×2 grid of tokens
    const cos = values(rope.freqs_cos);
    const sin = values(rope.freqs_sin);
    const x = randomInput([1, 4, 16], 19);
    const normRotate = (ln: LayerNorm): HeadMap => (v, token) => {
      const mean = v.reduce((a, b) => a + b, 0) / v.length;
      const variance = v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length;
      const w = values(ln.weight!);
      const b = values(ln.bias!);
      const normed = v.map((e, j) => ((e - mean) / Math.sqrt(variance + 1e-5)) * w[j]! + b[j]!);
      return normed.map((e, j) => e * cos[token * 8 + j]! + (j % 2 === 0 ? -normed[j + 1]! : normed[j - 1]!) * sin[token * 8 + j]!);
    };
    // Distinct norms for q and k, so that mixing them up would show.
    expect(values((attn.q_norm as LayerNorm).weight!)).not.toEqual(values((attn.k_norm as LayerNorm).weight!));
    const direct = directAttention(attn, values(x), 1, 4, normRotate(attn.q_norm as LayerNorm), normRotate(attn.k_norm as LayerNorm));
    const y = attn.forward(x, rope);
    expectAllClose(values(y), direct);
    sum(y).backward();
    for (const [name, p] of attn.namedParameters()) expect(p.grad, name).not.toBeNull();
  });
});
