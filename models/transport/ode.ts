import * as E from '../../engine/index.js';
import type { DType, Tensor } from '../../engine/index.js';
import { roundTo } from './timesteps.js';

/**
 * ODE solvers with the semantics of torchdiffeq 0.2.5's `odeint`, which the official sampler calls.
 *
 * `odeint(f, y0, grid, opts)` returns the state at every grid point (the first is y0 itself).
 * - Fixed-grid methods (euler, midpoint, heun2, heun3, rk4) step exactly from grid point to grid point, so a grid
 *   of n points costs n − 1 steps. Each step follows torchdiffeq's arithmetic, operation by operation, with the
 *   time arithmetic rounded to the state's dtype (torchdiffeq does it on time tensors of that dtype).
 * - dopri5 is the adaptive Dormand–Prince 5(4) pair: the grid points are only output times. It picks its
 *   first step as Hairer–Nørsett–Wanner II.4, accepts a step when the RMS norm of error / (atol + rtol·max(|y0|,
 *   |y1|)) is ≤ 1, and rescales the step by min(ifactor, max(safety·ratio^(−1/5), dfactor)) (never shrinking it
 *   after an accepted step). Like torchdiffeq it may step past the last grid point (evaluating f beyond it) and
 *   reads outputs off the quartic interpolant of the step that covers them. Step control runs in float64, stage
 *   times in the state's dtype; stages ending at t1 see f just before t1, and with `jumpLocations` steps end on
 *   each jump and continue with f from just after it (torchdiffeq's perturbation).
 *
 * Integration records no gradients (as sampling under `torch.no_grad()`), and each step's temporaries are freed.
 */

/** dy/dt = f(t, y). `t` arrives already rounded to y's dtype. */
export type VectorField = (t: number, y: Tensor) => Tensor;

export type FixedGridMethod = 'euler' | 'midpoint' | 'heun2' | 'heun3' | 'rk4';
export type OdeMethod = FixedGridMethod | 'dopri5';

export interface OdeOptions {
  method: OdeMethod;
  /** dopri5 only: absolute and relative tolerances (torchdiffeq defaults 1e-9 / 1e-7; the released configs use 1e-6 / 1e-3). */
  atol?: number;
  rtol?: number;
  /** dopri5 step control (torchdiffeq defaults). */
  safety?: number;
  ifactor?: number;
  dfactor?: number;
  /** dopri5: the first step; chosen automatically when absent. */
  firstStep?: number;
  /** dopri5: give up after this many steps (accepted or rejected) between two grid points. */
  maxNumSteps?: number;
  /**
   * dopri5: times where f jumps (torchdiffeq's `jump_locations`); steps end exactly there and f is re-evaluated
   * on the far side. The official sampler passes none, even though the CFG interval makes f jump at its start.
   */
  jumpLocations?: readonly number[];
}

/** The state at each time of `grid` (rounded to y0's dtype, as torchdiffeq's time tensor is), from y(grid[0]) = y0. */
export function odeint(f: VectorField, y0: Tensor, grid: readonly number[], opts: OdeOptions): Tensor[] {
  const times = grid.map(roundTo(y0.dtype));
  checkGrid(times);
  return E.noGrad(() => (opts.method === 'dopri5' ? integrateDopri5(f, y0, times, opts) : integrateFixedGrid(f, y0, times, FIXED_GRID_STEPS[opts.method])));
}

function checkGrid(grid: readonly number[]): void {
  if (grid.length < 1) throw new RangeError('odeint: the time grid is empty');
  for (let i = 1; i < grid.length; i++) {
    if (!(grid[i]! > grid[i - 1]!)) throw new RangeError(`odeint: the time grid must increase strictly (t[${i - 1}] = ${grid[i - 1]}, t[${i}] = ${grid[i]})`);
  }
}

/* ---------------------------------------------------------------- fixed grid */

/** One step from t0 to t1 = t0 + dt: returns the increment dy. */
type FixedGridStep = (f: VectorField, t0: number, dt: number, t1: number, y0: Tensor, r: (v: number) => number) => Tensor;

const ONE_THIRD = 1 / 3;
const TWO_THIRDS = 2 / 3;

const FIXED_GRID_STEPS: Record<FixedGridMethod, FixedGridStep> = {
  /** dy = dt·f(t0, y0). */
  euler: (f, t0, dt, _t1, y0) => E.mul(f(t0, y0), dt),

  /** dy = dt·f(t0 + dt/2, y0 + dt/2·f(t0, y0)). */
  midpoint: (f, t0, dt, _t1, y0, r) => {
    const halfDt = r(0.5 * dt);
    const yMid = E.add(y0, E.mul(f(t0, y0), halfDt));
    return E.mul(f(r(t0 + halfDt), yMid), dt);
  },

  /** Heun's (trapezoidal) method: k1 = f(t0, y0), k2 = f(t0 + dt, y0 + dt·k1), dy = dt·(k1/2 + k2/2). */
  heun2: (f, t0, dt, _t1, y0, r) => {
    const k1 = f(t0, y0);
    const k2 = f(r(t0 + dt), E.add(y0, E.mul(k1, dt)));
    return E.mul(E.add(E.mul(k1, 0.5), E.mul(k2, 0.5)), dt);
  },

  /** Heun's third-order method: stages at t0, t0 + dt/3, t0 + 2dt/3; dy = dt·(k1/4 + 3k3/4). */
  heun3: (f, t0, dt, _t1, y0, r) => {
    const k1 = f(t0, y0);
    const k2 = f(r(t0 + r(dt * r(ONE_THIRD))), E.add(y0, E.mul(E.mul(k1, dt), ONE_THIRD)));
    const k3 = f(r(t0 + r(dt * r(TWO_THIRDS))), E.add(y0, E.mul(E.mul(k2, TWO_THIRDS), dt)));
    return E.mul(E.add(E.mul(k1, 0.25), E.mul(k3, 0.75)), dt);
  },

  /** torchdiffeq's "rk4" is Kutta's 3/8 rule: dy = dt·(k1 + 3k2 + 3k3 + k4)/8. */
  rk4: (f, t0, dt, t1, y0, r) => {
    const k1 = f(t0, y0);
    const k2 = f(r(t0 + r(dt * r(ONE_THIRD))), E.add(y0, E.mul(E.mul(k1, dt), ONE_THIRD)));
    const k3 = f(r(t0 + r(dt * r(TWO_THIRDS))), E.add(y0, E.mul(E.sub(k2, E.mul(k1, ONE_THIRD)), dt)));
    const k4 = f(t1, E.add(y0, E.mul(E.add(E.sub(k1, k2), k3), dt)));
    return E.mul(E.mul(E.add(E.add(k1, E.mul(E.add(k2, k3), 3)), k4), dt), 0.125);
  },
};

function integrateFixedGrid(f: VectorField, y0: Tensor, grid: readonly number[], step: FixedGridStep): Tensor[] {
  const r = roundTo(y0.dtype);
  const trajectory = [y0];
  for (let i = 1; i < grid.length; i++) {
    const [t0, t1] = [grid[i - 1]!, grid[i]!];
    const y = trajectory[i - 1]!;
    trajectory.push(E.scope(() => E.add(y, step(f, t0, r(t1 - t0), t1, y, r))));
  }
  return trajectory;
}

/* ---------------------------------------------------------------- dopri5 */

/** The Dormand–Prince tableau (Shampine's dense-output midpoint weights in `mid`). */
const DOPRI5 = {
  order: 5,
  alpha: [1 / 5, 3 / 10, 4 / 5, 8 / 9, 1, 1],
  beta: [
    [1 / 5],
    [3 / 40, 9 / 40],
    [44 / 45, -56 / 15, 32 / 9],
    [19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729],
    [9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656],
    [35 / 384, 0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84],
  ],
  /** 5th-order weights minus 4th-order weights: the local error estimate. */
  cError: [
    35 / 384 - 1951 / 21600,
    0,
    500 / 1113 - 22642 / 50085,
    125 / 192 - 451 / 720,
    -2187 / 6784 - -12231 / 42400,
    11 / 84 - 649 / 6300,
    -1 / 60,
  ],
  mid: [
    6025192743 / 30085553152 / 2,
    0,
    51252292925 / 65400821598 / 2,
    -2691868925 / 45128329728 / 2,
    187940372067 / 1594534317056 / 2,
    -1776094331 / 19743644256 / 2,
    11237099 / 235043384 / 2,
  ],
};

/** Σ_j k_j·(w_j·dt): the weighted sum of stage derivatives an RK step adds (zero weights skipped). */
function stageSum(k: readonly Tensor[], weights: readonly number[], dt: number, r: (v: number) => number): Tensor {
  const terms = weights.flatMap((w, j) => (w === 0 ? [] : [E.mul(k[j]!, r(r(w) * r(dt)))]));
  return terms.reduce((sum, term) => E.add(sum, term));
}

/** The RMS norm torchdiffeq uses for every error test. */
function rms(values: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i]! * values[i]!;
  return Math.sqrt(sum / values.length);
}

/** RMS of error / (atol + rtol·max(|y0|, |y1|)), in float64; ≤ 1 accepts the step. */
export function errorRatio(error: ArrayLike<number>, y0: ArrayLike<number>, y1: ArrayLike<number>, atol: number, rtol: number): number {
  const scaled = Float64Array.from(error, (e, i) => e / (atol + rtol * Math.max(Math.abs(y0[i]!), Math.abs(y1[i]!))));
  return rms(scaled);
}

/**
 * torchdiffeq's step update: the step grows by at most `ifactor`, shrinks by at most `dfactor` (only when the step
 * was rejected: after an accepted step it never shrinks), aiming at safety·ratio^(−1/order).
 */
export function optimalStepSize(lastStep: number, ratio: number, opts: { safety: number; ifactor: number; dfactor: number; order: number }): number {
  if (ratio === 0) return lastStep * opts.ifactor;
  const dfactor = ratio < 1 ? 1 : opts.dfactor;
  const factor = Math.min(opts.ifactor, Math.max(opts.safety / ratio ** (1 / opts.order), dfactor));
  return lastStep * factor;
}

/**
 * The automatic first step (Hairer, Nørsett & Wanner, Solving ODEs I, II.4), as torchdiffeq computes it: one
 * explicit Euler trial step of h0 = 0.01·‖y0‖/‖f0‖ (norms scaled by atol + rtol·|y0|) to estimate the second
 * derivative, then h1 = (0.01 / max(‖f0‖, ‖f′‖))^(1/(order+1)) with order = 4 for dopri5, and min(100·h0, h1).
 */
export function selectInitialStep(f: VectorField, t0: number, y0: Tensor, f0: Tensor, atol: number, rtol: number, order: number): number {
  const r = roundTo(y0.dtype);
  const y = y0.toArraySync();
  const scale = Float64Array.from(y, (v) => atol + Math.abs(v) * rtol);
  const scaledNorm = (v: ArrayLike<number>) => rms(Float64Array.from(v, (x, i) => x / scale[i]!));
  const fv = f0.toArraySync();
  const d0 = scaledNorm(y);
  const d1 = scaledNorm(fv);
  const h0 = d0 < 1e-5 || d1 < 1e-5 ? 1e-6 : (0.01 * d0) / d1;
  const slopeChange = E.scope(() => E.sub(f(r(t0 + h0), E.add(y0, E.mul(f0, h0))), f0).toArraySync());
  const d2 = scaledNorm(slopeChange) / h0;
  const h1 = d1 <= 1e-15 && d2 <= 1e-15 ? Math.max(1e-6, h0 * 1e-3) : (0.01 / Math.max(d1, d2)) ** (1 / (order + 1));
  return Math.min(100 * h0, h1);
}

/** Coefficients [e, d, c, b, a] of y(t0 + x·dt) ≈ e + d·x + c·x² + b·x³ + a·x⁴ on one accepted step. */
function fitQuartic(y0: Tensor, y1: Tensor, yMid: Tensor, f0: Tensor, f1: Tensor, dt: number, r: (v: number) => number): Tensor[] {
  // a = 2dt·(f1 − f0) − 8(y1 + y0) + 16·yMid
  const a = E.add(E.sub(E.mul(E.sub(f1, f0), r(2 * dt)), E.mul(E.add(y1, y0), 8)), E.mul(yMid, 16));
  // b = dt·(5f0 − 3f1) + 18y0 + 14y1 − 32·yMid
  const b = E.sub(E.add(E.add(E.mul(E.sub(E.mul(f0, 5), E.mul(f1, 3)), dt), E.mul(y0, 18)), E.mul(y1, 14)), E.mul(yMid, 32));
  // c = dt·(f1 − 4f0) − 11y0 − 5y1 + 16·yMid
  const c = E.add(E.sub(E.sub(E.mul(E.sub(f1, E.mul(f0, 4)), dt), E.mul(y0, 11)), E.mul(y1, 5)), E.mul(yMid, 16));
  return [y0, E.mul(f0, dt), c, b, a];
}

function evaluateQuartic(coeffs: readonly Tensor[], t0: number, t1: number, t: number, r: (v: number) => number): Tensor {
  const x = r((t - t0) / (t1 - t0));
  let total = E.add(coeffs[0]!, E.mul(coeffs[1]!, x));
  let power = x;
  for (const coeff of coeffs.slice(2)) {
    power = r(power * x);
    total = E.add(total, E.mul(coeff, power));
  }
  return total;
}

/**
 * The neighbouring float of `t` in `dtype`, below (−1) or above (+1). torchdiffeq evaluates the stages that end
 * exactly at t1 just before it, and the derivative after a jump just after it, so a jump at t1 is seen from the
 * side the solution is on.
 */
function adjacentFloat(t: number, dtype: DType, direction: 1 | -1): number {
  if (t === 0) return direction * (dtype === 'float32' ? 2 ** -149 : Number.MIN_VALUE);
  const away = (t > 0) === (direction > 0) ? 1 : -1;
  if (dtype === 'float32') {
    const bits = new Int32Array(new Float32Array([t]).buffer);
    bits[0]! += away;
    return new Float32Array(bits.buffer)[0]!;
  }
  const bits = new BigInt64Array(new Float64Array([t]).buffer);
  bits[0]! += BigInt(away);
  return new Float64Array(bits.buffer)[0]!;
}

interface AcceptedState {
  /** State and derivative at the end of the last accepted step (the start of the next one). */
  y: Tensor;
  f: Tensor;
  /** The last accepted step spans [tStart, tEnd]; its interpolant reads outputs inside it. */
  tStart: number;
  tEnd: number;
  interpolant: Tensor[];
}

function integrateDopri5(f: VectorField, y0: Tensor, grid: readonly number[], opts: OdeOptions): Tensor[] {
  const atol = opts.atol ?? 1e-9;
  const rtol = opts.rtol ?? 1e-7;
  const control = { safety: opts.safety ?? 0.9, ifactor: opts.ifactor ?? 10, dfactor: opts.dfactor ?? 0.2, order: DOPRI5.order };
  const maxNumSteps = opts.maxNumSteps ?? 2 ** 31 - 1;
  const jumps = [...(opts.jumpLocations ?? [])].sort((a, b) => a - b);
  const dtype = y0.dtype;
  const r = roundTo(dtype);

  const f0 = E.scope(() => f(grid[0]!, y0));
  let dt = opts.firstStep ?? selectInitialStep(f, grid[0]!, y0, f0, atol, rtol, DOPRI5.order - 1);
  let state: AcceptedState = { y: y0, f: f0, tStart: grid[0]!, tEnd: grid[0]!, interpolant: [y0, y0, y0, y0, y0] };
  /** The first jump location after the start (bisect), as torchdiffeq keeps it. */
  let nextJump = Math.min(jumps.filter((j) => j <= grid[0]!).length, jumps.length - 1);

  /** One attempted step of size dt (cut short at a jump) from the state's end; the new state if accepted, else null. */
  const attempt = (): AcceptedState | null =>
    E.scope(() => {
      const { y, f: fStart, tEnd: t0 } = state;
      let t1 = t0 + dt;
      if (!(t1 > t0)) throw new RangeError(`odeint (dopri5): step size underflow (dt = ${dt} at t = ${t0})`);
      const onJump = jumps.length > 0 && t0 < jumps[nextJump]! && jumps[nextJump]! < t1;
      if (onJump) {
        t1 = jumps[nextJump]!;
        dt = t1 - t0;
      }
      const k = [fStart];
      DOPRI5.alpha.forEach((alpha, i) => {
        const ti = alpha === 1 ? adjacentFloat(r(t1), dtype, -1) : r(r(t0) + r(r(alpha) * r(dt)));
        k.push(f(ti, E.add(y, stageSum(k, DOPRI5.beta[i]!, dt, r))));
      });
      // First Same As Last: the 5th-order solution is the input of the last stage, and its derivative is k[6].
      const y1 = E.add(y, stageSum(k, DOPRI5.beta[5]!, dt, r));
      const error = stageSum(k, DOPRI5.cError, dt, r);
      const ratio = errorRatio(error.toArraySync(), y.toArraySync(), y1.toArraySync(), atol, rtol);
      let next: AcceptedState | null = null;
      if (ratio <= 1) {
        const interpolant = fitQuartic(y, y1, E.add(y, stageSum(k, DOPRI5.mid, dt, r)), k[0]!, k[6]!, r(dt), r);
        let f1 = k[6]!;
        if (onJump) {
          nextJump = Math.min(nextJump + 1, jumps.length - 1);
          // Past a jump of f, continue with the derivative from the side we are now on.
          f1 = f(adjacentFloat(r(t1), dtype, 1), y1);
        }
        next = { y: y1, f: f1, tStart: t0, tEnd: t1, interpolant };
      }
      dt = optimalStepSize(dt, ratio, control);
      return next;
    });

  const trajectory = [y0];
  for (const t of grid.slice(1)) {
    for (let steps = 0; t > state.tEnd; steps++) {
      if (steps >= maxNumSteps) throw new RangeError(`odeint (dopri5): more than ${maxNumSteps} steps to reach t = ${t}`);
      const next = attempt();
      if (next) {
        releaseState(state, [...trajectory, ...next.interpolant]);
        state = next;
      }
    }
    trajectory.push(E.scope(() => evaluateQuartic(state.interpolant, state.tStart, state.tEnd, t, r)));
  }
  releaseState(state, trajectory);
  return trajectory;
}

/** Frees a superseded solver state, except tensors handed out (y0 is the first trajectory entry). */
function releaseState(state: AcceptedState, keep: readonly Tensor[]): void {
  for (const t of [state.y, state.f, ...state.interpolant]) if (!keep.includes(t)) t.dispose();
}
