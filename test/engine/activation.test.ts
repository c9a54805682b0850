import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import * as E from '../../engine/index.js';
import type { Tensor } from '../../engine/index.js';
import { type ValueDomain, shapeArb, tensorArb } from '../helpers/arbitraries.js';
import { opProperty } from '../helpers/props.js';

/*
 * f32 forward tolerances, in units u = 2^-24 of max(1, max|y|), from the rounding of each composite's parts:
 * - relu, clamp: selections, exact.
 * - leaky_relu, silu: one product with a rounded factor (slope or σ(x)): 2u·|y|.
 * - gelu: t = x·√½ carries 2u relative error, erf(t) then ≤ 0.97u + u absolute (max |t·erf′(t)| = 0.48), 1 + erf
 *   another u·2, and the final product (|x|/2)·4u + u·|y|: 6 units over x ∈ [−3, 3].
 * - gelu (tanh): the inner polynomial carries ≈ 5u relative error, tanh turns it into ≤ 0.45·5u + u absolute,
 *   1 + tanh adds 2u, and the product (|x|/2)·5.3u + u·|y|: 10 units over x ∈ [−3, 3].
 */

const f64 = (values: number[], shape?: number[]) => E.fromArray(values, shape, { dtype: 'float64' });
const leaf = (values: number[]) => E.fromArray(values, undefined, { dtype: 'float64', requiresGrad: true });
const values = (t: Tensor) => Array.from(t.toArraySync());

function unary(domain?: ValueDomain): fc.Arbitrary<Tensor[]> {
  return shapeArb().chain((s) => tensorArb(s, domain)).map((x) => [x]);
}

function gradAt(f: (x: Tensor) => Tensor, at: number[]): number[] {
  const x = leaf(at);
  E.sum(f(x)).backward();
  return values(x.grad!);
}

describe('gradients', () => {
  opProperty('relu', { inputs: unary({ avoid: [0] }), fn: E.relu, f32ForwardUlps: 1 });
  opProperty('leaky_relu', { inputs: unary({ avoid: [0] }), fn: (x) => E.leakyRelu(x, 0.2), f32ForwardUlps: 2 });
  describe("approximate 'none'", () => {
    opProperty('gelu', { inputs: unary({ min: -3, max: 3 }), fn: (x) => E.gelu(x), f32ForwardUlps: 6 });
  });
  describe("approximate 'tanh'", () => {
    opProperty('gelu', { inputs: unary({ min: -3, max: 3 }), fn: (x) => E.gelu(x, 'tanh'), f32ForwardUlps: 10 });
  });
  opProperty('silu', { inputs: unary({ min: -4, max: 4 }), fn: E.silu, f32ForwardUlps: 2 });
  describe('both bounds', () => {
    opProperty('clamp', { inputs: unary({ avoid: [-1, 0.5] }), fn: (x) => E.clamp(x, -1, 0.5), f32ForwardUlps: 1 });
  });
  describe('one bound', () => {
    opProperty('clamp', { inputs: unary({ avoid: [0.25] }), fn: (x) => E.clamp(x, undefined, 0.25), f32ForwardUlps: 1, numRuns: 10 });
  });
});

describe('values', () => {
  test('reference values (PyTorch\'s formulas in float64, via Python\'s libm)', () => {
    const x = f64([-1, 0, 1, 2.5]);
    const close = (got: number[], want: number[]) => got.forEach((g, i) => expect(Math.abs(g - want[i]!)).toBeLessThanOrEqual(4e-16 * Math.max(1, Math.abs(want[i]!))));
    close(values(E.gelu(x)), [-0.15865525393145707, 0, 0.8413447460685429, 2.4844758366855597]);
    close(values(E.gelu(x, 'tanh')), [-0.15880800939172324, 0, 0.8411919906082768, 2.484915733910001]);
    close(values(E.silu(x)), [-0.2689414213699951, 0, 0.7310585786300049, 2.3103545499468914]);
    expect(values(E.leakyRelu(x))).toEqual([-0.01, 0, 1, 2.5]);
    expect(values(E.relu(x))).toEqual([0, 0, 1, 2.5]);
    expect(values(E.clamp(x, 0, 2))).toEqual([0, 0, 1, 2]);
    expect(values(E.clamp(x, 0))).toEqual([0, 0, 1, 2.5]);
  });

  test('NaN passes through every activation', () => {
    const nan = f64([NaN]);
    for (const f of [E.relu, E.leakyRelu, E.gelu, (t: Tensor) => E.gelu(t, 'tanh'), E.silu, (t: Tensor) => E.clamp(t, -1, 1)]) {
      expect(values(f(nan))).toEqual([NaN]);
    }
  });

  test('clamp with min > max gives max everywhere (as PyTorch)', () => {
    expect(values(E.clamp(f64([-3, 0, 3]), 2, 1))).toEqual([1, 1, 1]);
  });

  test('relu and clamp work on int32', () => {
    const i = E.fromArray([-3, 0, 4, 9], [4], { dtype: 'int32' });
    expect(values(E.relu(i))).toEqual([0, 0, 4, 9]);
    expect(E.clamp(i, -1, 5).dtype).toBe('int32');
    expect(values(E.clamp(i, -1, 5))).toEqual([-1, 0, 4, 5]);
  });

  test('relu is positively homogeneous: relu(αx) = α·relu(x) for α > 0 (P8)', () => {
    fc.assert(
      fc.property(shapeArb().chain((s) => tensorArb(s)), fc.integer({ min: 1, max: 64 }), (x, k) => {
        const alpha = k / 16;
        expect(values(E.relu(E.mul(x, alpha)))).toEqual(values(E.mul(E.relu(x), alpha)));
      }),
    );
  });
});

describe('kink conventions, exactly at the kink (P7)', () => {
  test("relu′(0) = 0", () => {
    expect(gradAt(E.relu, [-1, 0, -0, 2])).toEqual([0, 0, 0, 1]);
  });

  test("leaky_relu′(0) = negativeSlope", () => {
    expect(gradAt((x) => E.leakyRelu(x, 0.25), [-1, 0, 2])).toEqual([0.25, 0.25, 1]);
  });

  test('clamp passes the gradient at its bounds and nowhere outside them', () => {
    expect(gradAt((x) => E.clamp(x, -1, 1), [-2, -1, 0, 1, 2])).toEqual([0, 1, 1, 1, 0]);
    expect(gradAt((x) => E.clamp(x, -1), [-2, -1, 5])).toEqual([0, 1, 1]);
    expect(gradAt((x) => E.clamp(x, undefined, 1), [-5, 1, 2])).toEqual([1, 1, 0]);
    expect(gradAt((x) => E.clamp(x, 2, 1), [0, 1.5, 3])).toEqual([0, 0, 0]);
  });

  test("gelu′(0) = silu′(0) = 1/2 in both gelu forms", () => {
    expect(gradAt(E.gelu, [0])).toEqual([0.5]);
    expect(gradAt((x) => E.gelu(x, 'tanh'), [0])).toEqual([0.5]);
    expect(gradAt(E.silu, [0])).toEqual([0.5]);
  });

  test("relu″ = 0 away from 0 (second order through the composite)", () => {
    const x = leaf([-1.5, 2]);
    const [g] = E.grad(E.sum(E.relu(x)), [x], undefined, { createGraph: true });
    const [gg] = E.grad(E.sum(E.mul(g!, g!)), [x], undefined, { allowUnused: true });
    expect(values(gg!)).toEqual([0, 0]);
  });
});
