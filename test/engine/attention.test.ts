import { describe, expect, test } from 'vitest';
import fc from 'fast-check';
import * as E from '../../engine/index.js';
import type { Tensor } from '../../engine/index.js';
import { numel } from '../../engine/shape.js';
import { distinctValuesArb, tensorArb, valuesArb } from '../helpers/arbitraries.js';
import { opProperty } from '../helpers/props.js';
import { expectOpError } from '../helpers/expect.js';

/*
 * scaled_dot_product_attention: gradients to second order (opProperty) without a mask, with an additive float
 * mask, with an int32 keep-mask and causal; forward values against a plain-JS loop; the causal structure of
 * the Jacobian; mask forms that must agree; and the error cases.
 * scaled_dot_product_attention_backward (what a fused forward's backward calls): its gradients to second order,
 * and its values against autograd through the forward composite, for every mask form.
 */

const f64 = (values: ArrayLike<number>, shape: readonly number[]): Tensor => E.fromArray(Array.from(values), shape, { dtype: 'float64' });
const list = (t: Tensor): number[] => Array.from(t.toArraySync());

interface Sizes {
  batch: number[];
  L: number;
  S: number;
  E: number;
  Ev: number;
}

/** Per batch element: scores = q·kᵀ·scale (+ mask), row softmax, times v. `keep(t, s)` false drops a score. */
function naiveAttention(
  z: Sizes,
  q: number[], k: number[], v: number[],
  scale: number,
  keep: (b: number, t: number, s: number) => boolean,
  bias: (b: number, t: number, s: number) => number,
): number[] {
  const out: number[] = [];
  for (let b = 0; b < numel(z.batch); b++) {
    for (let t = 0; t < z.L; t++) {
      const scores: number[] = [];
      for (let s = 0; s < z.S; s++) {
        let dot = 0;
        for (let e = 0; e < z.E; e++) dot += q[(b * z.L + t) * z.E + e]! * k[(b * z.S + s) * z.E + e]!;
        scores.push(keep(b, t, s) ? dot * scale + bias(b, t, s) : -Infinity);
      }
      const top = Math.max(...scores);
      const weights = scores.map((x) => Math.exp(x - top));
      const total = weights.reduce((p, w) => p + w, 0);
      for (let e = 0; e < z.Ev; e++) {
        let acc = 0;
        for (let s = 0; s < z.S; s++) acc += (weights[s]! / total) * v[(b * z.S + s) * z.Ev + e]!;
        out.push(acc);
      }
    }
  }
  return out;
}

const side = (max: number) => fc.integer({ min: 1, max });

const sizesArb = (maxSide: number): fc.Arbitrary<Sizes> =>
  fc.record({ batch: fc.array(side(2), { maxLength: 2 }), L: side(maxSide), S: side(maxSide), E: side(maxSide), Ev: side(maxSide) });

const shapes = (z: Sizes) => ({ q: [...z.batch, z.L, z.E], k: [...z.batch, z.S, z.E], v: [...z.batch, z.S, z.Ev], scores: [z.L, z.S] });

/** An int32 keep-mask [L, S] that leaves every query at least one key. */
const keepMaskArb = (z: Sizes) =>
  fc.array(fc.boolean(), { minLength: z.L * z.S, maxLength: z.L * z.S }).map((bits) => {
    const keep = bits.map(Number);
    for (let t = 0; t < z.L; t++) if (!keep.slice(t * z.S, (t + 1) * z.S).some(Boolean)) keep[t * z.S + (t % z.S)] = 1;
    return keep;
  });

const small = sizesArb(3).filter((z) => numel(z.batch) * z.S * Math.max(z.E, z.Ev, z.L) <= 12);
/**
 * Keys and values have distinct entries: with two equal value rows (or key rows) a gradient is zero in exact
 * arithmetic, and what the softmax backward leaves of it is rounding noise, which is not linear in the cotangent.
 */
const distinctArb = (shape: readonly number[]) => distinctValuesArb(numel(shape)).map((v) => f64(v, shape));
const qkvArb = (z: Sizes) => fc.tuple(tensorArb(shapes(z).q), distinctArb(shapes(z).k), distinctArb(shapes(z).v));

describe('scaled_dot_product_attention: no mask', () => {
  opProperty('scaled_dot_product_attention', {
    inputs: small.chain(qkvArb),
    fn: (q, k, v) => E.scaledDotProductAttention(q!, k!, v!),
    numRuns: 10,
  });
});

describe('scaled_dot_product_attention: additive float mask', () => {
  opProperty('scaled_dot_product_attention', {
    inputs: small.chain((z) => qkvArb(z).chain((qkv) => tensorArb(shapes(z).scores).map((m) => [...qkv, m]))),
    fn: (q, k, v, mask) => E.scaledDotProductAttention(q!, k!, v!, { mask, scale: 0.75 }),
    numRuns: 10,
  });
});

describe('scaled_dot_product_attention: int32 keep-mask', () => {
  opProperty('scaled_dot_product_attention', {
    inputs: small.chain((z) => qkvArb(z).chain((qkv) => keepMaskArb(z).map((keep) => [...qkv, E.fromArray(keep, shapes(z).scores, { dtype: 'int32' })]))),
    fn: (q, k, v, mask) => E.scaledDotProductAttention(q!, k!, v!, { mask }),
    numRuns: 10,
  });
});

describe('scaled_dot_product_attention: causal', () => {
  opProperty('scaled_dot_product_attention', {
    inputs: small.chain(qkvArb),
    fn: (q, k, v) => E.scaledDotProductAttention(q!, k!, v!, { isCausal: true }),
    numRuns: 10,
  });
});

describe('scaled_dot_product_attention: values and structure', () => {
  const caseArb = sizesArb(5).chain((z) =>
    fc.tuple(fc.constant(z), valuesArb(numel(shapes(z).q)), valuesArb(numel(shapes(z).k)), valuesArb(numel(shapes(z).v)), keepMaskArb(z), valuesArb(z.L * z.S)),
  );

  test('equals the plain-JS loop: default scale, causal, keep-mask and additive mask with a given scale', () => {
    fc.assert(
      fc.property(caseArb, ([z, q, k, v, keep, bias]) => {
        const s = shapes(z);
        const [tq, tk, tv] = [f64(q, s.q), f64(k, s.k), f64(v, s.v)];
        const all = () => true;
        const none = () => 0;
        const close = (actual: Tensor, expected: number[]) => {
          expect(actual.shape).toEqual([...z.batch, z.L, z.Ev]);
          list(actual).forEach((x, i) => expect(x).toBeCloseTo(expected[i]!, 12));
        };
        close(E.scaledDotProductAttention(tq, tk, tv), naiveAttention(z, q, k, v, 1 / Math.sqrt(z.E), all, none));
        // Query t sees keys s ≤ t whatever L and S are (top-left alignment, as in PyTorch), so key 0 always.
        close(E.scaledDotProductAttention(tq, tk, tv, { isCausal: true }), naiveAttention(z, q, k, v, 1 / Math.sqrt(z.E), (_b, t, si) => si <= t, none));
        const keepMask = E.fromArray(keep, s.scores, { dtype: 'int32' });
        close(E.scaledDotProductAttention(tq, tk, tv, { mask: keepMask }), naiveAttention(z, q, k, v, 1 / Math.sqrt(z.E), (_b, t, si) => keep[t * z.S + si] === 1, none));
        close(E.scaledDotProductAttention(tq, tk, tv, { mask: f64(bias, s.scores), scale: 0.3 }), naiveAttention(z, q, k, v, 0.3, all, (_b, t, si) => bias[t * z.S + si]!));
      }),
    );
  });

  test('causal: output t does not depend on inputs at positions s > t, and does on s ≤ t', () => {
    const T = 5;
    const D = 3;
    const x = f64(Array.from({ length: T * D }, (_, i) => Math.sin(i + 1)), [T, D]).requiresGrad_();
    const project = (seed: number) => f64(Array.from({ length: D * D }, (_, i) => Math.cos(seed * 7 + i)), [D, D]);
    const [wq, wk, wv] = [project(1), project(2), project(3)];
    const jacobianRows = (isCausal: boolean, t: number) => {
      const y = E.scaledDotProductAttention(E.matmul(x, wq), E.matmul(x, wk), E.matmul(x, wv), { isCausal });
      const [g] = E.grad(E.sum(E.narrow(y, 0, t, 1)), [x]);
      return Array.from({ length: T }, (_, s) => list(g!).slice(s * D, (s + 1) * D).some((d) => d !== 0));
    };
    for (let t = 0; t < T; t++) {
      expect(jacobianRows(true, t)).toEqual(Array.from({ length: T }, (_, s) => s <= t));
      expect(jacobianRows(false, t)).toEqual(new Array(T).fill(true));
    }
  });

  test('an int32 keep-mask equals the additive mask of 0 and −∞, and isCausal equals the lower-triangular keep-mask', () => {
    const q = f64([0.5, -1, 2, 0.25, 1, 1], [1, 3, 2]);
    const k = f64([1, 0, -0.5, 2, 1, 1, 0, -1], [1, 4, 2]);
    const v = f64([1, 2, 3, 4, 5, 6, 7, 8], [1, 4, 2]);
    const keep = [1, 0, 1, 1, 0, 1, 1, 0, 1, 1, 1, 1];
    const viaKeep = E.scaledDotProductAttention(q, k, v, { mask: E.fromArray(keep, [3, 4], { dtype: 'int32' }) });
    const viaBias = E.scaledDotProductAttention(q, k, v, { mask: f64(keep.map((b) => (b ? 0 : -Infinity)), [3, 4]) });
    expect(list(viaKeep)).toEqual(list(viaBias));
    const lower = [1, 0, 0, 0, 1, 1, 0, 0, 1, 1, 1, 0];
    expect(list(E.scaledDotProductAttention(q, k, v, { isCausal: true }))).toEqual(list(E.scaledDotProductAttention(q, k, v, { mask: E.fromArray(lower, [3, 4], { dtype: 'int32' }) })));
  });

  test('batch dims broadcast among q, k, v and the mask', () => {
    const q = f64(Array.from({ length: 2 * 3 * 2 }, (_, i) => Math.sin(i)), [2, 1, 3, 2]);
    const k = f64(Array.from({ length: 3 * 4 * 2 }, (_, i) => Math.cos(i)), [1, 3, 4, 2]);
    const v = f64(Array.from({ length: 4 * 5 }, (_, i) => i / 8), [4, 5]);
    const mask = f64(Array.from({ length: 3 * 4 }, (_, i) => (i % 3) / 4), [3, 1, 4]);
    const y = E.scaledDotProductAttention(q, k, v, { mask });
    expect(y.shape).toEqual([2, 3, 3, 5]);
    const full = E.scaledDotProductAttention(E.clone(E.expand(q, [2, 3, 3, 2])), E.clone(E.expand(k, [2, 3, 4, 2])), E.clone(E.expand(v, [2, 3, 4, 5])), { mask: E.clone(E.expand(mask, [2, 3, 3, 4])) });
    expect(list(y)).toEqual(list(full));
  });

  test('bad inputs throw OpInputError naming the op and the shapes', () => {
    const t = (shape: number[], dtype: E.DType = 'float64') => E.zeros(shape, { dtype });
    expectOpError(() => E.scaledDotProductAttention(t([3, 2]), t([4, 3]), t([4, 2])), 'scaled_dot_product_attention', [3, 2], [4, 3], [4, 2]);
    expectOpError(() => E.scaledDotProductAttention(t([3, 2]), t([4, 2]), t([5, 2])), 'scaled_dot_product_attention', [3, 2], [4, 2], [5, 2]);
    expectOpError(() => E.scaledDotProductAttention(t([3]), t([4, 3]), t([4, 3])), 'scaled_dot_product_attention', [3], [4, 3]);
    expectOpError(() => E.scaledDotProductAttention(t([2, 3, 2]), t([3, 4, 2]), t([3, 4, 2])), 'scaled_dot_product_attention', [2, 3, 2], [3, 4, 2]);
    expectOpError(() => E.scaledDotProductAttention(t([3, 2]), t([4, 2]), t([4, 2], 'float32')), 'scaled_dot_product_attention', [3, 2], [4, 2]);
    expectOpError(() => E.scaledDotProductAttention(t([3, 2]), t([4, 2]), t([4, 2]), { mask: t([3, 5]) }), 'scaled_dot_product_attention', [3, 5]);
    expectOpError(() => E.scaledDotProductAttention(t([3, 2]), t([4, 2]), t([4, 2]), { mask: t([2, 3, 4]) }), 'scaled_dot_product_attention', [2, 3, 4]);
    expectOpError(() => E.scaledDotProductAttention(t([3, 2]), t([4, 2]), t([4, 2]), { mask: t([3, 4], 'float32') }), 'scaled_dot_product_attention', [3, 4]);
    expectOpError(() => E.scaledDotProductAttention(t([3, 2]), t([4, 2]), t([4, 2]), { mask: t([3, 4], 'int32'), isCausal: true }), 'scaled_dot_product_attention', [3, 4]);
  });
});

describe('scaled_dot_product_attention_backward', () => {
  /** (dq, dk, dv) for cotangent g, through the backward op, given the forward's output as a fused kernel would. */
  const backward = (opts: E.AttentionOptions) => (q: Tensor, k: Tensor, v: Tensor, g: Tensor, mask?: Tensor) => {
    const o = { ...opts, ...(mask ? { mask } : {}) };
    return E.scaledDotProductAttentionBackward(q, k, v, E.scaledDotProductAttention(q, k, v, o), g, o);
  };
  const withCotangent = (z: Sizes) => qkvArb(z).chain((qkv) => tensorArb([...z.batch, z.L, z.Ev]).map((g) => [...qkv, g]));

  describe('no mask', () => {
    opProperty('scaled_dot_product_attention_backward', { inputs: small.chain(withCotangent), fn: backward({}), numRuns: 6 });
  });

  describe('causal, with a scale', () => {
    opProperty('scaled_dot_product_attention_backward', { inputs: small.chain(withCotangent), fn: backward({ isCausal: true, scale: 0.6 }), numRuns: 6 });
  });

  test('equals autograd through the forward composite: no mask, causal, keep-mask, additive mask', () => {
    const caseArb = sizesArb(5).chain((z) =>
      fc.tuple(fc.constant(z), fc.tuple(tensorArb(shapes(z).q), tensorArb(shapes(z).k), tensorArb(shapes(z).v), tensorArb([...z.batch, z.L, z.Ev])), keepMaskArb(z), tensorArb(shapes(z).scores)),
    );
    fc.assert(
      fc.property(caseArb, ([z, [q, k, v, g], keep, bias]) => {
        const keepMask = E.fromArray(keep, shapes(z).scores, { dtype: 'int32' });
        for (const opts of [{}, { isCausal: true }, { mask: keepMask }, { mask: bias, scale: 0.4 }] as E.AttentionOptions[]) {
          const leaves = [q, k, v].map((t) => E.detach(t).requiresGrad_());
          const want = E.grad([E.scaledDotProductAttention(leaves[0]!, leaves[1]!, leaves[2]!, opts)], leaves, [g]);
          const got = backward(opts)(q, k, v, g, opts.mask);
          got.forEach((t, i) => {
            expect(t.shape).toEqual(want[i]!.shape);
            list(t).forEach((x, j) => expect(x).toBeCloseTo(list(want[i]!)[j]!, 12));
          });
        }
      }),
      { numRuns: 30 },
    );
  });

  test('bad inputs throw OpInputError naming the op and the shapes', () => {
    const t = (shape: number[]) => E.zeros(shape, { dtype: 'float64' });
    const op = 'scaled_dot_product_attention_backward';
    // q broadcast over the batch: the backward op wants every operand at the full batch shape.
    expectOpError(() => E.scaledDotProductAttentionBackward(t([3, 2]), t([2, 4, 2]), t([2, 4, 5]), t([2, 3, 5]), t([2, 3, 5])), op, [3, 2], [2, 4, 2]);
    expectOpError(() => E.scaledDotProductAttentionBackward(t([3, 2]), t([4, 2]), t([4, 5]), t([3, 4]), t([3, 5])), op, [3, 4]);
    expectOpError(() => E.scaledDotProductAttentionBackward(t([3, 2]), t([4, 2]), t([4, 5]), t([3, 5]), t([2, 5])), op, [2, 5]);
    expectOpError(() => E.scaledDotProductAttentionBackward(t([3, 2]), t([4, 3]), t([4, 5]), t([3, 5]), t([3, 5])), op, [3, 2], [4, 3]);
  });
});
