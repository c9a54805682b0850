import { describe, expect, test } from 'vitest';
import * as E from '../../../engine/index.js';
import type { Tensor } from '../../../engine/index.js';
import { type FixedGridMethod, type VectorField, errorRatio, odeint, optimalStepSize, selectInitialStep, timeGrid } from '../../../models/transport/index.js';

/*
 * The solvers on fields with known solutions: convergence orders, exactness on polynomials, the grid semantics
 * (which times f is evaluated at), and dopri5's step control.
 */

const Y0 = [1, -0.5, 2, 0.25];

/** dy/dt = (1 + t)·y, so y(t) = y(t0)·exp(T(t) − T(t0)) with T(t) = t + t²/2: smooth and time-dependent. */
const growth: VectorField = (t, y) => E.mul(y, 1 + t);
const T = (t: number) => t + (t * t) / 2;
const growthSolution = (t0: number, t1: number) => Y0.map((v) => v * Math.exp(T(t1) - T(t0)));

function state(values: readonly number[], dtype: 'float32' | 'float64' = 'float64'): Tensor {
  return E.tensor([...values], { dtype });
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

function uniformGrid(points: number, t0 = 0, t1 = 1): number[] {
  return Array.from({ length: points }, (_, i) => t0 + ((t1 - t0) * i) / (points - 1));
}

/** Error at the end of a run over `grid`. */
function finalError(method: FixedGridMethod, grid: number[]): number {
  const trajectory = odeint(growth, state(Y0), grid, { method });
  return maxAbsDiff(trajectory[trajectory.length - 1]!.toArraySync(), growthSolution(grid[0]!, grid[grid.length - 1]!));
}

const ORDERS: Record<FixedGridMethod, { order: number; steps: number }> = {
  euler: { order: 1, steps: 64 },
  midpoint: { order: 2, steps: 32 },
  heun2: { order: 2, steps: 32 },
  heun3: { order: 3, steps: 16 },
  rk4: { order: 4, steps: 8 },
};

describe('fixed-grid solvers', () => {
  for (const [method, { order, steps }] of Object.entries(ORDERS) as [FixedGridMethod, { order: number; steps: number }][]) {
    test(`${method} converges with order ${order} on a uniform grid`, () => {
      const coarse = finalError(method, uniformGrid(steps + 1, 0.2, 1.2));
      const fine = finalError(method, uniformGrid(2 * steps + 1, 0.2, 1.2));
      expect(Math.abs(Math.log2(coarse / fine) - order)).toBeLessThan(0.15);
    });

    test(`${method} converges with order ${order} on the shifted sampling grid`, () => {
      // The shifted grid is 14× finer near t = 0 than near t = 1, so the asymptotic regime starts later.
      const coarse = finalError(method, timeGrid(4 * steps + 1, 0.3, 'float64'));
      const fine = finalError(method, timeGrid(8 * steps + 1, 0.3, 'float64'));
      expect(Math.abs(Math.log2(coarse / fine) - order)).toBeLessThan(0.2);
    });
  }

  /** Each method integrates polynomials in t up to its quadrature degree exactly, on any grid. */
  const exactCases: [FixedGridMethod, (t: number) => number, (t: number) => number][] = [
    ['euler', () => 3, (t) => 3 * t],
    ['midpoint', (t) => 2 * t - 1, (t) => t * t - t],
    ['heun2', (t) => 2 * t - 1, (t) => t * t - t],
    ['heun3', (t) => 3 * t * t, (t) => t ** 3],
    ['rk4', (t) => 4 * t ** 3 - t, (t) => t ** 4 - (t * t) / 2],
  ];
  for (const [method, rate, integral] of exactCases) {
    test(`${method} is exact for dy/dt = a polynomial of its degree`, () => {
      const grid = [0, 0.07, 0.2, 0.55, 0.6, 1];
      const trajectory = odeint((t, y) => E.fullLike(y, rate(t)), state(Y0), grid, { method });
      trajectory.forEach((y, i) => {
        const expected = Y0.map((v) => v + integral(grid[i]!) - integral(grid[0]!));
        expect(maxAbsDiff(y.toArraySync(), expected)).toBeLessThan(1e-14);
      });
    });
  }

  /** Which times each method evaluates f at, per step [t0, t1] (torchdiffeq's stage times). */
  const stageTimes: Record<FixedGridMethod, (t0: number, dt: number) => number[]> = {
    euler: (t0) => [t0],
    midpoint: (t0, dt) => [t0, t0 + dt / 2],
    heun2: (t0, dt) => [t0, t0 + dt],
    heun3: (t0, dt) => [t0, t0 + dt / 3, t0 + (2 * dt) / 3],
    rk4: (t0, dt) => [t0, t0 + dt / 3, t0 + (2 * dt) / 3, t0 + dt],
  };
  for (const [method, times] of Object.entries(stageTimes) as [FixedGridMethod, (t0: number, dt: number) => number[]][]) {
    test(`${method}: numSteps grid points give numSteps − 1 steps, with f evaluated at its stage times`, () => {
      const grid = timeGrid(6, 0.3, 'float64');
      const seen: number[] = [];
      const trajectory = odeint((t, y) => (seen.push(t), E.zerosLike(y)), state(Y0), grid, { method });
      expect(trajectory).toHaveLength(6);
      const expected = grid.slice(0, -1).flatMap((t0, i) => times(t0, grid[i + 1]! - t0));
      expect(seen).toHaveLength(expected.length);
      seen.forEach((t, i) => expect(t).toBeCloseTo(expected[i]!, 14));
    });
  }

  test('euler is the recurrence x ← x + (t_{n+1} − t_n)·f(t_n, x) on the given grid', () => {
    const grid = [0, 0.1, 0.35, 1];
    const field: VectorField = (t, y) => E.add(E.mul(y, y), t);
    const trajectory = odeint(field, state([0.5]), grid, { method: 'euler' });
    let x = 0.5;
    grid.slice(1).forEach((t1, i) => {
      x += (t1 - grid[i]!) * (x * x + grid[i]!);
      expect(trajectory[i + 1]!.itemSync()).toBe(x);
    });
  });

  test('the grid is rounded to the state dtype and f sees float32 times for a float32 state', () => {
    const seen: number[] = [];
    odeint((t, y) => (seen.push(t), E.zerosLike(y)), state(Y0, 'float32'), [0, 0.1, 1 / 3], { method: 'heun2' });
    expect(seen).toEqual([0, Math.fround(0.1), Math.fround(0.1), Math.fround(1 / 3)]);
  });

  test('a grid that does not increase is refused', () => {
    expect(() => odeint(growth, state(Y0), [0, 0.5, 0.5], { method: 'euler' })).toThrow(/increase strictly/);
  });

  test('no tensors leak: only the trajectory survives', () => {
    const y0 = state(Y0);
    const before = E.liveTensors().length;
    const trajectory = odeint(growth, y0, uniformGrid(5), { method: 'rk4' });
    expect(E.liveTensors().length - before).toBe(trajectory.length - 1);
    trajectory.slice(1).forEach((t) => t.dispose());
  });
});

describe('dopri5', () => {
  const released = { atol: 1e-6, rtol: 1e-3 };

  /**
   * dopri5 controls the local error of each step, so its global error is not bounded by the tolerance itself but
   * stays within a small multiple of it, and shrinks in proportion as the tolerance tightens.
   */
  test('stays within a small multiple of its tolerance on a smooth field, at every output time', () => {
    const grid = timeGrid(10, 0.3, 'float64');
    for (const tol of [released, { atol: 1e-9, rtol: 1e-6 }, { atol: 1e-12, rtol: 1e-9 }]) {
      const trajectory = odeint(growth, state(Y0), grid, { method: 'dopri5', ...tol });
      trajectory.forEach((y, i) => {
        const exact = growthSolution(0, grid[i]!);
        const allowed = 10 * Math.max(...exact.map((v) => tol.atol + tol.rtol * Math.abs(v)));
        expect(maxAbsDiff(y.toArraySync(), exact)).toBeLessThan(allowed);
      });
    }
  });

  test('tighter tolerances cost more evaluations and give smaller errors', () => {
    let previous = { evaluations: 0, error: Infinity };
    for (const rtol of [1e-3, 1e-6, 1e-9, 1e-12]) {
      let evaluations = 0;
      const counted: VectorField = (t, y) => (evaluations++, growth(t, y));
      const trajectory = odeint(counted, state(Y0), [0, 1], { method: 'dopri5', rtol, atol: rtol * 1e-3 });
      const error = maxAbsDiff(trajectory[1]!.toArraySync(), growthSolution(0, 1));
      expect(evaluations).toBeGreaterThan(previous.evaluations);
      expect(error).toBeLessThan(previous.error / 10);
      previous = { evaluations, error };
    }
  });

  test('evaluations: f(t0), one probe for the first step, then 6 per attempted step (first same as last)', () => {
    let evaluations = 0;
    odeint((t, y) => (evaluations++, growth(t, y)), state(Y0), [0, 0.5, 1], { method: 'dopri5', ...released });
    expect(evaluations % 6).toBe(2);
    let withGivenStep = 0;
    odeint((t, y) => (withGivenStep++, growth(t, y)), state(Y0), [0, 1], { method: 'dopri5', ...released, firstStep: 0.25 });
    expect(withGivenStep % 6).toBe(1);
  });

  test('with the jump location given, steps end on a jump of the field and the solution stays exact', () => {
    const jump: VectorField = (t, y) => E.fullLike(y, t < 0.3 ? 1 : 2);
    const seen: number[] = [];
    const trajectory = odeint((t, y) => (seen.push(t), jump(t, y)), state([0]), [0, 0.2, 1], { method: 'dopri5', ...released, jumpLocations: [0.3] });
    expect(trajectory[1]!.itemSync()).toBeCloseTo(0.2, 14);
    expect(trajectory[2]!.itemSync()).toBeCloseTo(1.7, 14);
    // The step ending at the jump evaluates just before it, the derivative after it just after it.
    expect(seen).toContain(0.29999999999999993);
    expect(seen).toContain(0.30000000000000004);
  });

  test('a float32 state is integrated with float32 stage times', () => {
    const seen: number[] = [];
    odeint((t, y) => (seen.push(t), growth(t, y)), state(Y0, 'float32'), [0, 1], { method: 'dopri5', ...released });
    expect(seen.every((t) => Math.fround(t) === t)).toBe(true);
  });

  test('no tensors leak: only the output states survive', () => {
    const y0 = state(Y0);
    const before = E.liveTensors().length;
    const trajectory = odeint(growth, y0, uniformGrid(4), { method: 'dopri5', ...released });
    expect(E.liveTensors().length - before).toBe(trajectory.length - 1);
    trajectory.slice(1).forEach((t) => t.dispose());
  });
});

describe('dopri5 step control (torchdiffeq formulas)', () => {
  const control = { safety: 0.9, ifactor: 10, dfactor: 0.2, order: 5 };

  test('the error ratio is the RMS of error / (atol + rtol·max(|y0|, |y1|))', () => {
    const ratio = errorRatio([1e-6, 3e-6], [0, -2], [0, 1], 1e-6, 1e-3);
    expect(ratio).toBeCloseTo(Math.sqrt((1 + (3e-6 / (1e-6 + 2e-3)) ** 2) / 2), 14);
  });

  test('the next step: ×ifactor at zero error, safety·ratio^(−1/5) in between, ×dfactor at most when rejected', () => {
    expect(optimalStepSize(0.1, 0, control)).toBeCloseTo(1, 14);
    expect(optimalStepSize(0.1, 1e-12, control)).toBeCloseTo(1, 14);
    expect(optimalStepSize(0.1, 0.5, control)).toBeCloseTo(0.1 * 0.9 * 0.5 ** -0.2, 14);
    expect(optimalStepSize(0.1, 4, control)).toBeCloseTo(0.1 * 0.9 * 4 ** -0.2, 14);
    expect(optimalStepSize(0.1, 1e6, control)).toBeCloseTo(0.02, 14);
    // Accepted with a ratio just under 1: safety would shrink the step, but accepted steps never shrink.
    expect(optimalStepSize(0.1, 0.99, control)).toBe(0.1);
  });

  test('the first step for dy/dt = y, y0 = 1 is min(100·h0, (0.01·scale)^(1/5)) with h0 = 0.01', () => {
    const y0 = state([1]);
    const f0 = y0;
    const scale = 1e-6 + 1e-3;
    const h = selectInitialStep((_t, y) => y, 0, y0, f0, 1e-6, 1e-3, 4);
    expect(h).toBeCloseTo((0.01 * scale) ** 0.2, 12);
  });

  test('a zero field gets the fallback first step of 1e-6', () => {
    const y0 = state([0, 0]);
    expect(selectInitialStep((_t, y) => E.zerosLike(y), 0, y0, E.zerosLike(y0), 1e-6, 1e-3, 4)).toBe(1e-6);
  });
});
