import { getBackend } from '../backend.js';
import type { DType } from '../dtype.js';
import { isFloat } from '../dtype.js';
import { EngineError } from '../errors.js';
import { vjp } from '../autograd/functional.js';
import { noGrad } from '../autograd/mode.js';
import { scope } from '../memory.js';
import { type Tensor, fromArray } from '../tensor.js';
import { DEFAULT_SEED, cotangentValues } from './directions.js';
import { abbreviate, hexOf } from './hex.js';
import { floatInputs, outputsOf, restrict, unravel } from './problem.js';
import type { Cotangent, Fn, InputInfo } from './types.js';

/**
 * Backend parity (§7.2, P10): forward outputs and input gradients of a float32 backend against the float64 CPU
 * reference on the same (float32-representable) inputs. Element e passes iff
 *   |test − ref| ≤ atol + rtol·|ref| + n·ε₃₂·S_e,
 * where n is the number of terms each element accumulates (reductions, matmul) and S_e = Σ|terms| its
 * error scale. As in PyTorch's "reference more accurate" rule, an entry over its bound is excused when the test
 * backend is within 4× the CPU-f32 error against the same oracle.
 */

export interface ParityOptions {
  ref?: 'cpu-f64';
  /** 'cpu-f32', or '<backend name>-f32' for any backend registered with registerBackend. */
  test: string;
  wrt?: number[];
  atol?: number;
  rtol?: number;
  /** n: how many terms each element sums (default 0: no accumulation term). */
  terms?: number;
  /**
   * S_e, as tensors shaped like the outputs and the checked inputs' gradients, given the f64 inputs and the
   * cotangents. Default: fn at |x| and its pullback of |v|, which is Σ|terms| exactly for sums of products.
   */
  errorScale?: (inputs: Tensor[], cotangents: Tensor[]) => { outputs: Tensor[]; grads: Tensor[] };
  cotangent?: Cotangent;
  seed?: number;
  topK?: number;
  name?: string;
}

export interface ParityEntry {
  what: 'output' | 'grad';
  /** Output number, or input number for a gradient. */
  tensor: number;
  index: number[];
  ref: number;
  test: number;
  /** The CPU-f32 value, when the test backend is another one. */
  cpuF32?: number;
  bound: number;
  ratio: number;
  status: 'ok' | 'fail' | 'excused';
}

export interface ParityTensorSummary {
  what: 'output' | 'grad';
  tensor: number;
  shape: number[];
  checked: number;
  failed: number;
  excused: number;
  maxRatio: number;
}

export interface ParityReportData {
  verdict: 'pass' | 'fail';
  name: string;
  ref: 'cpu-f64';
  test: string;
  checked: number;
  failed: number;
  excused: number;
  tensors: ParityTensorSummary[];
  worst: ParityEntry[];
  atol: number;
  rtol: number;
  terms: number;
  seed: number;
  inputs: InputInfo[];
}

export interface ParityReport extends ParityReportData {
  toString(): string;
  toJSON(): ParityReportData;
}

const EPS32 = 2 ** -23;
const EXCUSE_FACTOR = 4;

interface Side {
  outputs: Float64Array[];
  grads: Float64Array[];
  shapes: { outputs: number[][]; grads: number[][] };
}

function parseTarget(test: string): { backend: string; dtype: DType } {
  const m = /^(.+)-f(32|64)$/.exec(test);
  if (!m) throw new EngineError(`compareBackends: test '${test}' must look like '<backend>-f32' (e.g. 'cpu-f32')`);
  return { backend: m[1]!, dtype: m[2] === '32' ? 'float32' : 'float64' };
}

async function read(ts: readonly Tensor[]): Promise<Float64Array[]> {
  return Promise.all(ts.map(async (t) => Float64Array.from(await t.toArray())));
}

/** Forward and pullback of `fn` on one backend and dtype; tensors made here are freed (GPU memory included). */
async function run(fn: Fn, inputs: readonly Tensor[], values: readonly Float64Array[], wrt: readonly number[], backendName: string, dtype: DType, cotangent: Cotangent, seed: number, abs = false): Promise<Side> {
  const backend = getBackend(backendName);
  return scope(async () => {
    const xs = inputs.map((x, i) => fromArray(abs && isFloat(x.dtype) ? values[i]!.map(Math.abs) : values[i]!, x.shape, { dtype: isFloat(x.dtype) ? dtype : x.dtype, backend }));
    const { outputs, pullback } = vjp(restrict(fn, xs, wrt), wrt.map((i) => xs[i]!));
    const cots = cotangentValues(outputs.map((o) => o.size), cotangent, seed);
    const grads = pullback(outputs.map((o, k) => fromArray(abs ? cots[k]!.map(Math.abs) : cots[k]!, o.shape, { dtype, backend })));
    return { outputs: await read(outputs), grads: await read(grads), shapes: { outputs: outputs.map((o) => [...o.shape]), grads: grads.map((g) => [...g.shape]) } };
  });
}

function sameClass(a: number, b: number): boolean {
  return Number.isNaN(a) ? Number.isNaN(b) : a === b;
}

export async function compareBackends(fn: Fn, inputs: readonly Tensor[], opts: ParityOptions): Promise<ParityReport> {
  if ((opts.ref ?? 'cpu-f64') !== 'cpu-f64') throw new EngineError(`compareBackends: the reference must be 'cpu-f64', not '${opts.ref}'`);
  const target = parseTarget(opts.test);
  const wrt = opts.wrt ?? floatInputs(inputs);
  const seed = opts.seed ?? DEFAULT_SEED;
  const cotangent = opts.cotangent ?? 'random-dyadic';
  const atol = opts.atol ?? 1e-6;
  const rtol = opts.rtol ?? 1e-5;
  const terms = opts.terms ?? 0;
  // Both sides see the same values, rounded to the test dtype: the comparison then measures the kernels alone.
  const round = target.dtype === 'float32' ? Math.fround : (v: number) => v;
  const values = (await read(inputs)).map((v, i) => (isFloat(inputs[i]!.dtype) ? v.map(round) : v));

  const ref = await run(fn, inputs, values, wrt, 'cpu', 'float64', cotangent, seed);
  const test = await run(fn, inputs, values, wrt, target.backend, target.dtype, cotangent, seed);
  const cpu32 = target.backend === 'cpu' ? undefined : await run(fn, inputs, values, wrt, 'cpu', 'float32', cotangent, seed);
  const scale = terms === 0 ? undefined : await errorScaleOf(fn, inputs, values, wrt, cotangent, seed, opts);

  // Integer outputs have no gradient and are skipped; reports keep fn's own output numbers.
  const cpu = getBackend('cpu');
  const outputNumbers = scope(() =>
    noGrad(() => outputsOf(fn, inputs.map((x, i) => fromArray(values[i]!, x.shape, { dtype: isFloat(x.dtype) ? 'float64' : x.dtype, backend: cpu })))).flatMap((o, k) => (isFloat(o.dtype) ? [k] : [])),
  );

  const entries: ParityEntry[] = [];
  const tensors: ParityTensorSummary[] = [];
  const compare = (what: 'output' | 'grad', k: number, tensor: number, shape: number[]) => {
    const r = ref[`${what}s`][k]!;
    const t = test[`${what}s`][k]!;
    const c = cpu32?.[`${what}s`][k];
    const s = scale?.[`${what}s`][k];
    const summary: ParityTensorSummary = { what, tensor, shape, checked: r.length, failed: 0, excused: 0, maxRatio: 0 };
    for (let e = 0; e < r.length; e++) {
      const bound = atol + rtol * Math.abs(r[e]!) + terms * EPS32 * (s?.[e] ?? 0);
      const bothFinite = Number.isFinite(r[e]!) && Number.isFinite(t[e]!);
      const diff = bothFinite ? Math.abs(t[e]! - r[e]!) : sameClass(r[e]!, t[e]!) ? 0 : Infinity;
      const ratio = diff === 0 ? 0 : diff / bound;
      let status: ParityEntry['status'] = ratio <= 1 ? 'ok' : 'fail';
      if (status === 'fail' && c && bothFinite && diff <= EXCUSE_FACTOR * Math.abs(c[e]! - r[e]!)) status = 'excused';
      if (status === 'fail') summary.failed++;
      if (status === 'excused') summary.excused++;
      summary.maxRatio = Math.max(summary.maxRatio, ratio);
      if (status !== 'ok' || ratio > 0.5) entries.push({ what, tensor, index: unravel(e, shape), ref: r[e]!, test: t[e]!, ...(c ? { cpuF32: c[e]! } : {}), bound, ratio, status });
    }
    tensors.push(summary);
  };
  ref.shapes.outputs.forEach((shape, k) => compare('output', k, outputNumbers[k]!, shape));
  ref.shapes.grads.forEach((shape, k) => compare('grad', k, wrt[k]!, shape));

  const order = { fail: 0, excused: 1, ok: 2 } as const;
  const data: ParityReportData = {
    verdict: tensors.some((t) => t.failed > 0) ? 'fail' : 'pass',
    name: opts.name ?? (fn.name || 'fn'),
    ref: 'cpu-f64',
    test: opts.test,
    checked: tensors.reduce((n, t) => n + t.checked, 0),
    failed: tensors.reduce((n, t) => n + t.failed, 0),
    excused: tensors.reduce((n, t) => n + t.excused, 0),
    tensors,
    worst: entries.sort((a, b) => order[a.status] - order[b.status] || b.ratio - a.ratio).slice(0, opts.topK ?? 10),
    atol,
    rtol,
    terms,
    seed,
    inputs: inputs.map((x, i) => ({ name: `x${i}`, shape: [...x.shape], dtype: x.dtype, hex: hexOf(values[i]!) })),
  };
  return { ...data, toString: () => formatParity(data), toJSON: () => data };
}

async function errorScaleOf(fn: Fn, inputs: readonly Tensor[], values: readonly Float64Array[], wrt: readonly number[], cotangent: Cotangent, seed: number, opts: ParityOptions) {
  if (!opts.errorScale) return run(fn, inputs, values, wrt, 'cpu', 'float64', cotangent, seed, true);
  const cpu = getBackend('cpu');
  return scope(async () => {
    const xs = inputs.map((x, i) => fromArray(values[i]!, x.shape, { dtype: isFloat(x.dtype) ? 'float64' : x.dtype, backend: cpu }));
    const outs = restrict(fn, xs, wrt)(...wrt.map((i) => xs[i]!));
    const cots = cotangentValues(outs.map((o) => o.size), cotangent, seed).map((v, k) => fromArray(v, outs[k]!.shape, { dtype: 'float64', backend: cpu }));
    const s = opts.errorScale!(xs, cots);
    return { outputs: await read(s.outputs), grads: await read(s.grads) };
  });
}

function formatParity(r: ParityReportData): string {
  const label = (what: string, tensor: number) => (what === 'output' ? `output #${tensor}` : `grad x${tensor}`);
  const lines = [
    `parity op=${r.name} ref=${r.ref} test=${r.test} verdict=${r.verdict}`,
    `  bound per element: atol + rtol·|ref| + n·ε₃₂·Σ|terms| with atol=${r.atol.toExponential()} rtol=${r.rtol.toExponential()} n=${r.terms}; checked ${r.checked}, ${r.failed} failed, ${r.excused} excused`,
    ...r.tensors.map((t) => `  ${label(t.what, t.tensor)} shape=[${t.shape.join(',')}]: ${t.failed} of ${t.checked} failed, ${t.excused} excused, max ratio ${t.maxRatio.toPrecision(3)}`),
  ];
  if (r.worst.length) {
    lines.push('  worst (sorted by |test−ref| / bound):');
    for (const e of r.worst) {
      const cpu = e.cpuF32 !== undefined ? `  cpu-f32=${e.cpuF32}` : '';
      lines.push(`    ${label(e.what, e.tensor)} (${e.index.join(',')})  ref=${e.ref}  test=${e.test}${cpu}  |Δ|=${Math.abs(e.test - e.ref).toExponential(1)}  bound=${e.bound.toExponential(1)}  ratio=${e.ratio.toPrecision(3)}  ${e.status}`);
    }
  }
  if (r.excused) lines.push(`  ${r.excused} entries over their bound are excused: within ${EXCUSE_FACTOR}× the CPU-f32 error against the same f64 oracle`);
  lines.push(`  reproduce: seed=${r.seed}; inputs (exact): ${r.inputs.map((x) => `${x.name} = f64-hex[${abbreviate(x.hex)}]`).join('  ')}`);
  return lines.join('\n');
}
