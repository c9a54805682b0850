import fc from 'fast-check';
import { expect, test, type TestContext } from 'vitest';
import type { Tensor, TypedArray } from '../../engine/index.js';
import { add, cast, detach, enableGrad, fromArray, grad, mul, noGrad, sum } from '../../engine/index.js';
import { type Fn, GradcheckError, type GradcheckOptions, type GradcheckReport, gradcheck, gradgradcheck } from '../../engine/gradcheck/index.js';
import { dyadic } from '../../engine/gradcheck/directions.js';

/**
 * The property tests every differentiable op must pass (../shared/spec/gradcheck.md §7.3): P1 gradcheck in
 * float64, P9 gradgradcheck, the float32 CPU path against the float64 oracle (forward values and gradients),
 * and the cheap autograd-hygiene properties P2–P5 on the first few cases. `test/engine/coverage.test.ts` fails
 * for any registered op that no `opProperty('<name>', …)` call covers, so each op's tests are found by its name.
 */
export interface OpPropertySpec {
  /** Float64 inputs for a case (int32 inputs allowed: they are passed unchanged). */
  inputs: fc.Arbitrary<Tensor[]>;
  fn: Fn;
  /** Checked inputs (default: all float ones). */
  wrt?: number[];
  /** Run gradgradcheck (default true). */
  gradgrad?: boolean;
  /** Relative tolerance of f32 forward values against f64, in units of 2^-24 times the op's error scale. */
  f32ForwardUlps?: number;
  gradcheckOptions?: GradcheckOptions;
  numRuns?: number;
}

/** P2–P5 are exact or nearly so, and cheap: a few cases catch what they catch. */
const HYGIENE_RUNS = 10;

function verdictOk(report: GradcheckReport): void {
  if (report.verdict !== 'pass') throw new GradcheckError(report);
}

/** Runs a property; on a gradcheck failure, attaches the report's JSON to the vitest result. */
async function withReport(ctx: TestContext, body: () => void): Promise<void> {
  try {
    body();
  } catch (error) {
    for (let e: unknown = error; e instanceof Error; e = e.cause) {
      if (e instanceof GradcheckError) {
        await ctx.annotate('gradcheck report (JSON)', { contentType: 'application/json', body: new TextEncoder().encode(JSON.stringify(e.report)) });
        break;
      }
    }
    throw error;
  }
}

/** Registers the standard properties of op `name` as vitest tests. */
export function opProperty(name: string, spec: OpPropertySpec): void {
  // fast-check treats an explicit `numRuns: undefined` as an override, so fall back to the global setting here.
  const numRuns = spec.numRuns ?? fc.readConfigureGlobal().numRuns;
  test(`${name}: gradcheck (f64)`, (ctx) =>
    withReport(ctx, () => fc.assert(fc.property(spec.inputs, (xs) => verdictOk(gradcheck(spec.fn, xs, { name, wrt: spec.wrt, ...spec.gradcheckOptions }))), { numRuns })));
  if (spec.gradgrad !== false) {
    test(`${name}: gradgradcheck (f64)`, (ctx) =>
      withReport(ctx, () =>
        fc.assert(fc.property(spec.inputs, (xs) => verdictOk(gradgradcheck(spec.fn, xs, undefined, { name, wrt: spec.wrt, ...spec.gradcheckOptions }))), { numRuns: Math.ceil((numRuns ?? 30) / 2) }),
      ));
  }
  test(`${name}: f32 forward and gradient vs the f64 oracle`, (ctx) =>
    withReport(ctx, () =>
      fc.assert(
        fc.property(spec.inputs, (xs) => {
          const xs32 = xs.map((x) => (x.dtype === 'float64' ? cast(x, 'float32') : x));
          // Forward: f32 result vs f64 of the same (f32-representable) inputs.
          const [y32, y64] = noGrad(() => [outs(spec.fn(...xs32)), outs(spec.fn(...xs32.map((x) => (x.dtype === 'float32' ? cast(x, 'float64') : x))))]);
          y32!.forEach((y, i) => {
            const a = y.toArraySync();
            const b = y64![i]!.toArraySync();
            const scale = Math.max(1, ...Array.from(b, Math.abs));
            const tol = (spec.f32ForwardUlps ?? 16) * 2 ** -24 * scale;
            for (let k = 0; k < a.length; k++) {
              if (!(Math.abs(a[k]! - b[k]!) <= tol)) expect.fail(`${name}: f32 output ${i}[${k}] = ${a[k]} vs f64 ${b[k]} (tol ${tol})`);
            }
          });
          verdictOk(gradcheck(spec.fn, xs32, { name, wrt: spec.wrt, ...f32Options(spec.gradcheckOptions) }));
        }),
        { numRuns },
      ),
    ));
  test(`${name}: autograd hygiene (P2 zero and linear cotangents, P3 grad shape and dtype, P4 reentrant backward, P5 no mutation)`, () => {
    fc.assert(fc.property(spec.inputs, (xs) => checkHygiene(name, spec.fn, xs, spec.wrt)), { numRuns: Math.min(HYGIENE_RUNS, numRuns ?? HYGIENE_RUNS) });
  });
}

function f32Options(o: GradcheckOptions | undefined): GradcheckOptions {
  // Explicit f64 tolerances do not carry over to the f32 path, which has its own defaults.
  const { atol: _a, rtol: _r, ...rest } = o ?? {};
  return rest;
}

function outs(y: Tensor | Tensor[]): Tensor[] {
  return Array.isArray(y) ? y : [y];
}

/** Bit-for-bit equality (−0 ≠ +0; NaN = NaN). */
function sameBits(a: TypedArray, b: TypedArray): boolean {
  return a.length === b.length && a.every((v, i) => Object.is(v, b[i]));
}

/** The generic properties of §7.3 that every op must have, whatever its math (exported for gradcheck's own tests). */
export function checkHygiene(name: string, fn: Fn, xs: readonly Tensor[], wrtGiven?: number[]): void {
  const wrt = wrtGiven ?? xs.flatMap((x, i) => (x.dtype === 'int32' ? [] : [i]));
  const inputsBefore = xs.map((x) => x.toArraySync());
  const trace = () => {
    const leaves = xs.map((x, i) => (wrt.includes(i) ? detach(x).requiresGrad_() : x));
    const ys = enableGrad(() => outs(fn(...leaves))).filter((y) => y.requiresGrad);
    return { checked: wrt.map((i) => leaves[i]!), ys };
  };
  const { checked, ys } = trace();
  if (ys.length === 0) return;
  const cotangent = (stream: number, scale = 1) => ys.map((y, k) => fromArray(dyadic(y.size, 7, 2 * k + stream).map((v) => v * scale), y.shape, { dtype: y.dtype }));
  const pull = (vs: Tensor[], of = { checked, ys }) => grad(of.ys, of.checked, vs, { retainGraph: true, allowUnused: true }).map((g) => g.toArraySync());
  const where = (k: number) => `${name}: gradient of input ${wrt[k]}`;

  // P2: a zero cotangent gives exactly zero; the pullback is linear in the cotangent.
  pull(ys.map((y) => fromArray(new Array(y.size).fill(0), y.shape, { dtype: y.dtype }))).forEach((g, k) => {
    if (!g.every((v) => v === 0)) expect.fail(`${where(k)} is not exactly zero for a zero cotangent: [${Array.from(g).slice(0, 8)}…]`);
  });
  const [alpha, beta] = [0.75, -0.5];
  const v = cotangent(0);
  const w = cotangent(1);
  const cotangentsBefore = [...v, ...w].map((t) => t.toArraySync());
  const gv = pull(v);
  const gw = pull(w);
  const combined = pull(v.map((vk, k) => noGrad(() => add(mul(vk, alpha), mul(w[k]!, beta)))));
  combined.forEach((g, k) => {
    const scale = Math.max(0, ...Array.from(g, (_, j) => Math.abs(alpha * gv[k]![j]!) + Math.abs(beta * gw[k]![j]!)));
    g.forEach((value, j) => {
      const expected = alpha * gv[k]![j]! + beta * gw[k]![j]!;
      // The absolute floor covers exact zeros computed by cancellation of O(1) terms (≈1e-16 of noise).
      if (!(Math.abs(value - expected) <= 1e-12 * scale + 1e-14)) expect.fail(`${where(k)} is not linear in the cotangent at flat index ${j}: ${value} vs ${expected}`);
    });
  });

  // P3: one gradient per checked input, of its shape and dtype.
  const grads = grad(ys, checked, v, { retainGraph: true, allowUnused: true });
  grads.forEach((g, k) => {
    expect(g.shape, `${where(k)}: shape`).toEqual(checked[k]!.shape);
    expect(g.dtype, `${where(k)}: dtype`).toBe(checked[k]!.dtype);
  });

  // P4: the same backward again, and a fresh forward and backward, agree bit for bit.
  const again = pull(v);
  const fresh = pull(v, trace());
  gv.forEach((g, k) => {
    if (!sameBits(g, again[k]!)) expect.fail(`${where(k)}: a second backward through the same graph differs`);
    if (!sameBits(g, fresh[k]!)) expect.fail(`${where(k)}: a fresh forward and backward differ`);
  });

  // P5: two backward calls accumulate exactly twice one into .grad; nothing the op was given has changed.
  const loss = enableGrad(() => ys.map((y, k) => sum(mul(y, v[k]!))).reduce((a, b) => add(a, b)));
  loss.backward(undefined, { retainGraph: true });
  const once = checked.map((x) => x.grad?.toArraySync());
  loss.backward(undefined, { retainGraph: true });
  checked.forEach((x, k) => {
    const first = once[k];
    if (first && !sameBits(x.grad!.toArraySync(), first.map((g) => 2 * g))) expect.fail(`${where(k)}: two backward calls do not accumulate to twice one`);
  });
  xs.forEach((x, i) => {
    if (!sameBits(x.toArraySync(), inputsBefore[i]!)) expect.fail(`${name}: input ${i} was mutated`);
  });
  [...v, ...w].forEach((t, k) => {
    if (!sameBits(t.toArraySync(), cotangentsBefore[k]!)) expect.fail(`${name}: cotangent ${k} was mutated`);
  });
}

/** Declares an op that has no gradient (comparisons, argmax, random): it must not record a backward. */
export function nonDifferentiable(name: string, make: () => Tensor): void {
  test(`${name}: has no gradient`, () => {
    const y = make();
    expect(y.requiresGrad).toBe(false);
  });
}
