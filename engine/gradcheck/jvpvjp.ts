import { jvp, vjp } from '../autograd/functional.js';
import type { DType } from '../dtype.js';
import { type Tensor, fromArray } from '../tensor.js';
import { DEFAULT_SEED, dyadic } from './directions.js';
import { dot, floatInputs, restrict } from './problem.js';
import type { Fn, Verdict } from './types.js';

/**
 * The dot-product test: ⟨v, J u⟩ from forward mode (`jvp`) must equal ⟨Jᵀv, u⟩ from reverse mode (`vjp`) to
 * round-off, with no finite differences at all. The engine's jvp differentiates the pullback in its cotangent,
 * so this checks that every backward rule is linear in its incoming gradient and differentiable in it — the
 * property higher-order gradients rest on.
 */

export interface JvpVjpOptions {
  wrt?: number[];
  seed?: number;
  /** Relative to Σ|terms| of both dot products (default 1e-12 in float64, 1e-5 in float32). */
  rtol?: number;
  name?: string;
}

export interface JvpVjpReportData {
  verdict: Exclude<Verdict, 'inconclusive'>;
  name: string;
  dtype: DType;
  /** ⟨v, J u⟩ with J u from jvp. */
  forward: number;
  /** ⟨Jᵀv, u⟩ with Jᵀv from vjp. */
  reverse: number;
  difference: number;
  tol: number;
  seed: number;
}

export interface JvpVjpReport extends JvpVjpReportData {
  toString(): string;
  toJSON(): JvpVjpReportData;
}

export function checkJvpVjp(fn: Fn, inputs: readonly Tensor[], opts: JvpVjpOptions = {}): JvpVjpReport {
  const wrt = opts.wrt ?? floatInputs(inputs);
  const g = restrict(fn, inputs, wrt);
  const xs = wrt.map((i) => inputs[i]!);
  const seed = opts.seed ?? DEFAULT_SEED;
  const dtype = xs[0]?.dtype ?? 'float64';
  const like = (t: Tensor, values: Float64Array) => fromArray(values, t.shape, { dtype: t.dtype, backend: t.backend });

  const us = xs.map((x, k) => like(x, dyadic(x.size, seed, 2 * k)));
  const { outputs, tangents } = jvp(g, xs, us);
  const vs = outputs.map((y, k) => like(y, dyadic(y.size, seed, 2 * k + 1)));
  const grads = vjp(g, xs).pullback(vs);

  let forward = 0;
  let reverse = 0;
  let magnitude = 0;
  const accumulate = (a: Tensor, b: Tensor): number => {
    const p = a.toArraySync();
    const q = b.toArraySync();
    for (let i = 0; i < p.length; i++) magnitude += Math.abs(p[i]! * q[i]!);
    return dot(p, q);
  };
  tangents.forEach((t, k) => (forward += accumulate(vs[k]!, t)));
  grads.forEach((gr, k) => (reverse += accumulate(gr, us[k]!)));

  const tol = (opts.rtol ?? (dtype === 'float32' ? 1e-5 : 1e-12)) * magnitude;
  const difference = Math.abs(forward - reverse);
  const data: JvpVjpReportData = { verdict: difference <= tol ? 'pass' : 'fail', name: opts.name ?? (fn.name || 'fn'), dtype, forward, reverse, difference, tol, seed };
  const text =
    `jvp/vjp dot-product test op=${data.name} dtype=${dtype} verdict=${data.verdict}\n` +
    `  ⟨v, J u⟩ (jvp) = ${forward}\n  ⟨Jᵀv, u⟩ (vjp) = ${reverse}\n  |Δ| = ${difference.toExponential(2)}  tol = ${tol.toExponential(2)} (rtol × Σ|terms|)  seed=${seed}`;
  return { ...data, toString: () => text, toJSON: () => data };
}
