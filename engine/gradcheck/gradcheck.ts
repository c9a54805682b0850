import type { DType } from '../dtype.js';
import { EngineError } from '../errors.js';
import { enableGrad, noGrad } from '../autograd/mode.js';
import { grad } from '../autograd/functional.js';
import { Tensor, fromArray } from '../tensor.js';
import { cast } from '../ops/elementwise.js';
import { detach } from '../ops/view.js';

/**
 * Gradient checking to the standard of ../shared/spec/gradcheck.md §7: analytical Jacobians (one VJP per output
 * element) against central differences in float64, with a second step 2h as a per-entry noise estimate, and a
 * verdict of pass, fail or inconclusive (a noisy oracle or a kink never counts as a pass).
 */

export type Verdict = 'pass' | 'fail' | 'inconclusive';
export type Fn = (...xs: Tensor[]) => Tensor | Tensor[];

export interface GradcheckOptions {
  /** Indices of the inputs to check (default: every float input). */
  wrt?: number[];
  /** Fixed FD step, or 'auto' for the power of two nearest cbrt(ε)·max(1,|x|). */
  eps?: 'auto' | number;
  atol?: number;
  rtol?: number;
  /** Reported so that a failing property test can be replayed. */
  seed?: number;
  /** How many of the worst entries the report lists. */
  topK?: number;
  /** Name used in the report (e.g. the op). */
  name?: string;
}

export interface EntryReport {
  input: number;
  output: number;
  inIndex: number[];
  outIndex: number[];
  analytical: number;
  numerical: number;
  tol: number;
  noise: number;
  step: number;
  status: 'ok' | 'fail' | 'inconclusive';
  kink: boolean;
}

export interface GradcheckReport {
  verdict: Verdict;
  name: string;
  dtype: DType;
  checked: number;
  failed: number;
  inconclusive: number;
  worst: EntryReport[];
  atol: number;
  rtol: number;
  seed?: number;
  inputsHex: string[];
  toString(): string;
}

export class GradcheckError extends EngineError {
  override name = 'GradcheckError';
  constructor(readonly report: GradcheckReport) {
    super(report.toString());
  }
}

const EPS64 = 2 ** -52;

/** h = 2^round(log2(cbrt(ε₆₄)·max(1,|x|))): 2^-17 for |x| ≤ 1, exact as (x+h)−x. */
export function autoStep(x: number): number {
  return 2 ** Math.round(Math.log2(Math.cbrt(EPS64) * Math.max(1, Math.abs(x))));
}

function defaults(dtype: DType): { atol: number; rtol: number } {
  return dtype === 'float64' ? { atol: 1e-8, rtol: 1e-6 } : { atol: 1e-6, rtol: 1e-5 };
}

function outputsOf(fn: Fn, xs: Tensor[]): Tensor[] {
  const y = fn(...xs);
  return Array.isArray(y) ? y : [y];
}

function unravel(flat: number, shape: readonly number[]): number[] {
  const idx = new Array<number>(shape.length).fill(0);
  for (let d = shape.length - 1; d >= 0; d--) {
    idx[d] = flat % shape[d]!;
    flat = Math.floor(flat / shape[d]!);
  }
  return idx;
}

export function hexOf(values: ArrayLike<number>): string {
  const buf = new DataView(new ArrayBuffer(8));
  return Array.from(values, (v) => {
    buf.setFloat64(0, v);
    return '0x' + buf.getBigUint64(0).toString(16).padStart(16, '0');
  }).join(',');
}

/**
 * Full-mode gradcheck. Analytical gradients come from the inputs' own dtype and backend; the numerical oracle
 * always runs in float64 on the CPU values of the same inputs ("lifted"), so a float32 path is judged against
 * exact arithmetic. Never throws on a mismatch: see `assertGradcheck`.
 */
export function gradcheck(fn: Fn, inputs: readonly Tensor[], opts: GradcheckOptions = {}): GradcheckReport {
  const dtype = inputs.find((t) => t.dtype !== 'int32')?.dtype ?? 'float64';
  const tol = { ...defaults(dtype), ...(opts.atol !== undefined ? { atol: opts.atol } : {}), ...(opts.rtol !== undefined ? { rtol: opts.rtol } : {}) };
  const wrt = opts.wrt ?? inputs.map((t, i) => (t.dtype === 'int32' ? -1 : i)).filter((i) => i >= 0);

  // Analytical Jacobian rows: one VJP per output element.
  const leaves = inputs.map((x, i) => (wrt.includes(i) ? detach(x).requiresGrad_() : x));
  const outs = outputsOf(fn, leaves);
  const analytic: Float64Array[][] = wrt.map((i) => outs.map((o) => new Float64Array(o.size * inputs[i]!.size)));
  outs.forEach((o, oi) => {
    if (!o.requiresGrad) return;
    for (let k = 0; k < o.size; k++) {
      const seed = new Array<number>(o.size).fill(0);
      seed[k] = 1;
      const gs = grad(outs, wrt.map((i) => leaves[i]!), outs.map((q, qi) => (qi === oi ? fromArray(seed, q.shape, { dtype: q.dtype, backend: q.backend }) : fromArray(new Array(q.size).fill(0), q.shape, { dtype: q.dtype, backend: q.backend }))), { retainGraph: true, allowUnused: true });
      gs.forEach((g, wi) => {
        const row = g.toArraySync();
        const n = inputs[wrt[wi]!]!.size;
        for (let j = 0; j < n; j++) analytic[wi]![oi]![k * n + j] = row[j]!;
      });
    }
  });

  // Numerical Jacobian columns, in float64: steps ±h and ±2h per input element.
  const base = inputs.map((x) => Float64Array.from(x.toArraySync()));
  const evalAt = (wi: number, j: number, delta: number): Float64Array[] =>
    noGrad(() => {
      const xs = inputs.map((x, i) => {
        const values = base[i]!;
        if (i !== wrt[wi]) return x.dtype === 'int32' ? x : fromArray(values, x.shape, { dtype: 'float64' });
        const moved = Float64Array.from(values);
        moved[j] = moved[j]! + delta;
        return fromArray(moved, x.shape, { dtype: 'float64' });
      });
      return outputsOf(fn, xs).map((o) => Float64Array.from(cast(o, o.dtype === 'int32' ? 'int32' : 'float64').toArraySync()));
    });

  const center = wrt.length ? evalAt(0, 0, 0) : [];

  const entries: EntryReport[] = [];
  let checked = 0;
  let failed = 0;
  let inconclusive = 0;
  wrt.forEach((inputIndex, wi) => {
    const x = base[inputIndex]!;
    for (let j = 0; j < x.length; j++) {
      const h = opts.eps === undefined || opts.eps === 'auto' ? autoStep(x[j]!) : opts.eps;
      const [p1, m1, p2, m2] = [h, -h, 2 * h, -2 * h].map((d) => evalAt(wi, j, d)) as [Float64Array[], Float64Array[], Float64Array[], Float64Array[]];
      outs.forEach((o, oi) => {
        if (o.dtype === 'int32') return;
        for (let k = 0; k < o.size; k++) {
          const dh = (p1[oi]![k]! - m1[oi]![k]!) / (2 * h);
          const d2h = (p2[oi]![k]! - m2[oi]![k]!) / (4 * h);
          const y0 = center[oi]![k]!;
          const forward = (p1[oi]![k]! - y0) / h;
          const backward = (y0 - m1[oi]![k]!) / h;
          const a = analytic[wi]![oi]![k * x.length + j]!;
          const noise = Math.abs(dh - d2h);
          const scale = Math.max(1, Math.abs(y0));
          const allowed = tol.atol * scale + tol.rtol * Math.max(Math.abs(a), Math.abs(dh)) + 4 * noise;
          const kink = Math.abs(forward - backward) > 1e-3 * Math.max(1, Math.abs(forward), Math.abs(backward));
          const noisy = noise > 1e-4 * Math.max(1, Math.abs(dh)) || kink || !Number.isFinite(dh);
          const bad = !(Math.abs(a - dh) <= allowed);
          const status = noisy ? 'inconclusive' : bad ? 'fail' : 'ok';
          checked++;
          if (status === 'fail') failed++;
          if (status === 'inconclusive') inconclusive++;
          entries.push({ input: inputIndex, output: oi, inIndex: unravel(j, inputs[inputIndex]!.shape), outIndex: unravel(k, o.shape), analytical: a, numerical: dh, tol: allowed, noise, step: h, status, kink });
        }
      });
    }
  });

  const ratio = (e: EntryReport) => Math.abs(e.analytical - e.numerical) / Math.max(e.tol, Number.MIN_VALUE);
  const worst = entries.filter((e) => e.status !== 'ok').sort((p, q) => ratio(q) - ratio(p)).slice(0, opts.topK ?? 10);
  const verdict: Verdict = failed > 0 ? 'fail' : inconclusive > 0 ? 'inconclusive' : 'pass';
  const report: GradcheckReport = {
    verdict,
    name: opts.name ?? fn.name ?? 'fn',
    dtype,
    checked,
    failed,
    inconclusive,
    worst,
    ...tol,
    seed: opts.seed,
    inputsHex: base.map(hexOf),
    toString: () => formatReport(report, inputs),
  };
  return report;
}

function formatReport(r: GradcheckReport, inputs: readonly Tensor[]): string {
  const lines = [
    `GradcheckError: op=${r.name} backend=cpu-${r.dtype === 'float64' ? 'f64' : 'f32'} mode=full scheme=central verdict=${r.verdict}`,
    `  inputs ${inputs.map((t, i) => `#${i} shape=[${t.shape.join(',')}]`).join(' ')}  checked ${r.checked} entries, ${r.failed} failed, ${r.inconclusive} inconclusive`,
    `  tolerance |a−n| ≤ ${r.atol}·max(1,|y|) + ${r.rtol}·max(|a|,|n|) + 4·noise`,
    '  worst (sorted by |a−n| / tol):',
    ...r.worst.map(
      (e) =>
        `    J[y${e.output}(${e.outIndex.join(',')}) ← x${e.input}(${e.inIndex.join(',')})]  analytical=${e.analytical.toPrecision(8)}  numerical=${e.numerical.toPrecision(8)}` +
        `  |Δ|=${Math.abs(e.analytical - e.numerical).toExponential(1)}  tol=${e.tol.toExponential(1)}  h=2^${Math.log2(e.step)}  noise=${e.noise.toExponential(1)}  ${e.status}${e.kink ? ' (kink)' : ''}`,
    ),
  ];
  if (r.seed !== undefined) lines.push(`  reproduce: seed=${r.seed}`);
  lines.push(`  inputs (exact): ${r.inputsHex.map((h, i) => `x${i} = f64-hex[${h.length > 200 ? h.slice(0, 200) + '…' : h}]`).join('  ')}`);
  return lines.join('\n');
}

/** Throws GradcheckError unless the verdict is pass. */
export function assertGradcheck(fn: Fn, inputs: readonly Tensor[], opts: GradcheckOptions = {}): GradcheckReport {
  const report = gradcheck(fn, inputs, opts);
  if (report.verdict !== 'pass') throw new GradcheckError(report);
  return report;
}

/**
 * Second order: gradcheck of (x, v) ↦ vᵀ·J_fn(x), with v a fixed cotangent per output (random dyadic by default).
 * This differentiates the backward rules themselves.
 */
export function gradgradcheck(fn: Fn, inputs: readonly Tensor[], cotangents?: readonly Tensor[], opts: GradcheckOptions = {}): GradcheckReport {
  const wrt = opts.wrt ?? inputs.map((t, i) => (t.dtype === 'int32' ? -1 : i)).filter((i) => i >= 0);
  const probe = noGrad(() => outputsOf(fn, [...inputs]));
  const vs = cotangents ?? probe.map((o, k) => dyadic(o.shape, o.dtype, 7919 * (k + 1)));
  // The numerical oracle calls this under noGrad; the inner gradient needs recording all the same.
  const firstOrder: Fn = (...xsAndVs) =>
    enableGrad(() => {
      const xs = xsAndVs.slice(0, inputs.length).map((x, i) => (wrt.includes(i) && !x.requiresGrad ? detach(x).requiresGrad_() : x));
      const v = xsAndVs.slice(inputs.length);
      const outs = outputsOf(fn, xs);
      const live = outs.map((o, i) => [o, v[i]!] as const).filter(([o]) => o.requiresGrad);
      return grad(live.map(([o]) => o), wrt.map((i) => xs[i]!), live.map(([, vi]) => vi), { createGraph: true, allowUnused: true });
    });
  return gradcheck(firstOrder, [...inputs, ...vs], { ...opts, wrt: [...wrt, ...vs.map((_, i) => inputs.length + i)], name: `${opts.name ?? fn.name ?? 'fn'} (grad of grad)` });
}

export function assertGradgradcheck(fn: Fn, inputs: readonly Tensor[], cotangents?: readonly Tensor[], opts: GradcheckOptions = {}): GradcheckReport {
  const report = gradgradcheck(fn, inputs, cotangents, opts);
  if (report.verdict !== 'pass') throw new GradcheckError(report);
  return report;
}

/** Distinct dyadic values k/8 in [-2, 2], deterministic in `salt`. */
function dyadic(shape: readonly number[], dtype: DType, salt: number): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return fromArray(Array.from({ length: n }, (_, i) => ((((i + 1) * salt) % 33) - 16) / 8 || 0.125), shape, { dtype });
}
