import { isFloat } from '../dtype.js';
import { grad } from '../autograd/functional.js';
import { enableGrad, noGrad } from '../autograd/mode.js';
import { detach } from '../ops/view.js';
import { type Tensor, fromArray } from '../tensor.js';
import { DEFAULT_SEED, cotangentValues } from './directions.js';
import { checkFull, everything } from './full.js';
import { Problem, floatInputs, outputsOf } from './problem.js';
import { FULL_MODE_LIMIT, checkProjected } from './projected.js';
import { makeReport } from './report.js';
import { checkTaylor } from './taylor.js';
import { toleranceFor } from './tolerance.js';
import { type Fn, GradcheckError, type GradcheckOptions, type GradcheckReport } from './types.js';

// The first version of this module exported these itself; callers that import them from here keep working.
export * from './types.js';
export { autoStep } from './problem.js';
export { hexOf } from './hex.js';

/**
 * Gradient checking to the standard of ../shared/spec/gradcheck.md §7: the analytical derivatives of `fn`
 * (pullbacks in the inputs' own dtype and backend) against a float64 numerical oracle, with a verdict of pass,
 * fail or inconclusive, and a report that says where and why. See ./README.md.
 */

/**
 * Checks the gradients of `fn` at `inputs`. Never throws on a mismatch (see `assertGradcheck`).
 * mode 'auto' (the default) checks every Jacobian entry while Σnumel(inputs)·Σnumel(outputs) ≤ 16384, and
 * random projections above that; scheme 'taylor' runs the rate test instead of comparing derivatives.
 */
export function gradcheck(fn: Fn, inputs: readonly Tensor[], opts: GradcheckOptions = {}): GradcheckReport {
  const p = new Problem(fn, inputs, opts);
  const tol = toleranceFor(p.dtype, opts);
  const seed = opts.seed ?? DEFAULT_SEED;
  const scheme = opts.scheme ?? 'central';
  if (scheme === 'taylor') return makeReport(p, tol, seed, { mode: 'projected', scheme, taylor: checkTaylor(p, opts.cotangent, seed) });
  const requested = opts.mode ?? 'auto';
  const mode = requested === 'auto' ? (p.jacobianSize <= FULL_MODE_LIMIT ? 'full' : 'projected') : requested;
  if (mode === 'full') return makeReport(p, tol, seed, { mode, scheme, ...checkFull(p, everything(p), tol) });
  return makeReport(p, tol, seed, { mode, scheme, ...checkProjected(p, tol, opts.projections ?? 4, seed) });
}

/** Throws GradcheckError (carrying the report) unless the verdict is pass. */
export function assertGradcheck(fn: Fn, inputs: readonly Tensor[], opts: GradcheckOptions = {}): GradcheckReport {
  const report = gradcheck(fn, inputs, opts);
  if (report.verdict !== 'pass') throw new GradcheckError(report);
  return report;
}

/**
 * Second order: gradcheck of (x, v) ↦ vᵀ·J_fn(x), with v one cotangent per float output (`cotangents`, else
 * `opts.cotangent`, seeded dyadic by default). This differentiates the backward rules themselves, in x and in v.
 */
export function gradgradcheck(fn: Fn, inputs: readonly Tensor[], cotangents?: readonly Tensor[], opts: GradcheckOptions = {}): GradcheckReport {
  const wrt = opts.wrt ?? floatInputs(inputs);
  const outs = noGrad(() => outputsOf(fn, inputs)).filter((o) => isFloat(o.dtype));
  const values = cotangentValues(outs.map((o) => o.size), cotangents ?? opts.cotangent ?? 'random-dyadic', opts.seed ?? DEFAULT_SEED);
  const vs = outs.map((o, k) => fromArray(values[k]!, o.shape, { dtype: o.dtype, backend: o.backend }));
  // The numerical oracle calls this under noGrad; the inner gradient needs recording all the same.
  const firstOrder: Fn = (...xsAndVs) =>
    enableGrad(() => {
      const xs = xsAndVs.slice(0, inputs.length).map((x, i) => (wrt.includes(i) && !x.requiresGrad ? detach(x).requiresGrad_() : x));
      const v = xsAndVs.slice(inputs.length);
      const ys = outputsOf(fn, xs).filter((o) => isFloat(o.dtype));
      const live = ys.map((y, k) => [y, v[k]!] as const).filter(([y]) => y.requiresGrad);
      return grad(live.map(([y]) => y), wrt.map((i) => xs[i]!), live.map(([, vk]) => vk), { createGraph: true, allowUnused: true });
    });
  const names = inputs.map((_, i) => opts.inputNames?.[i] ?? `x${i}`);
  // The cotangent option has been used up: the first-order function's own outputs are the gradients.
  const { cotangent: _used, ...rest } = opts;
  return gradcheck(firstOrder, [...inputs, ...vs], {
    ...rest,
    wrt: [...wrt, ...vs.map((_, k) => inputs.length + k)],
    name: `${opts.name ?? (fn.name || 'fn')} (grad of grad)`,
    inputNames: [...names, ...vs.map((_, k) => `v${k}`)],
  });
}

export function assertGradgradcheck(fn: Fn, inputs: readonly Tensor[], cotangents?: readonly Tensor[], opts: GradcheckOptions = {}): GradcheckReport {
  const report = gradgradcheck(fn, inputs, cotangents, opts);
  if (report.verdict !== 'pass') throw new GradcheckError(report);
  return report;
}
