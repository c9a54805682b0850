import { cotangentValues, rademacher } from './directions.js';
import { type Problem, dot } from './problem.js';
import type { Cotangent, TaylorReport, Verdict } from './types.js';

/**
 * The Taylor remainder test (pyadjoint's `taylor_test`): for a scalar loss L and a direction u,
 * r(ε) = |L(x+εu) − L(x) − ε⟨∇L, u⟩| is O(ε²) when ∇L is right and O(ε) when it is wrong. Halving ε four times
 * must give rates log2(r(ε)/r(ε/2)) of about 2; a wrong gradient drifts to 1. No tolerance is needed, which is
 * what makes it the check for whole models. A non-scalar output is turned into L = ⟨w, F⟩ by a cotangent w.
 */

/** ε = 2^-7 … 2^-11: powers of two near pyadjoint's 0.01/2^i, so x + εu stays exact for dyadic x. */
export const TAYLOR_EPS = [0, 1, 2, 3, 4].map((i) => 2 ** (-7 - i));
export const TAYLOR_MIN_RATE = 1.9;
/** Residuals within this factor of the round-off floor say nothing about the rate. */
const FLOOR_MARGIN = 100;

/** L = ⟨w, F⟩: a scalar output is its own loss (w = 1); otherwise w is the cotangent (seeded dyadic by default). */
function lossWeights(p: Problem, cotangent: Cotangent | undefined, seed: number): Float64Array {
  const parts = cotangentValues(p.slots.map((s) => s.size), cotangent ?? (p.outSize === 1 ? 'ones' : 'random-dyadic'), seed);
  const w = new Float64Array(p.outSize);
  p.slots.forEach((slot, k) => w.set(parts[k]!, slot.offset));
  return w;
}

export function checkTaylor(p: Problem, cotangent: Cotangent | undefined, seed: number): { taylor: TaylorReport; verdict: Verdict } {
  const w = lossWeights(p, cotangent, seed);
  // Each element moves in proportion to its own size (a power of two, to keep x + εu exact).
  const u = p.wrt.map((i, k) => rademacher(p.inputs[i]!.size, seed, 2 * k).map((s, j) => s * 2 ** Math.round(Math.log2(Math.max(1, Math.abs(p.base[i]![j]!))))));
  const directionalDerivative = p.pullback(w).reduce((acc, g, k) => acc + dot(g, u[k]!), 0);
  const loss0 = dot(w, p.center);
  const residuals = TAYLOR_EPS.map((eps) => Math.abs(dot(w, p.along(u, eps)) - loss0 - eps * directionalDerivative));
  let terms = 0;
  for (let k = 0; k < p.outSize; k++) terms += Math.abs(w[k]! * p.center[k]!);
  const floor = 1e-13 * Math.max(1, terms);
  const usable = (r: number) => r >= FLOOR_MARGIN * floor;
  const rates = residuals.slice(1).map((r, i) => (usable(r) && usable(residuals[i]!) ? Math.log2(residuals[i]! / r) : null));
  const measured = rates.filter((r): r is number => r !== null);

  let verdict: Verdict;
  if (residuals.some((r) => !Number.isFinite(r))) verdict = 'inconclusive';
  else if (measured.some((r) => r < TAYLOR_MIN_RATE)) verdict = 'fail';
  // A rate above 2 (e.g. 3, when uᵀHu = 0) still rules out a first-order error, which would pull it to 1.
  else if (measured.length > 0) verdict = 'pass';
  // L is affine along u to round-off, and ε⟨∇L, u⟩ matched its change: the gradient is right along u.
  else if (residuals.every((r) => !usable(r))) verdict = 'pass';
  else verdict = 'inconclusive';
  return { taylor: { eps: TAYLOR_EPS, residuals, rates, floor, directionalDerivative }, verdict };
}
