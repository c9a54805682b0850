import fc from 'fast-check';
import { expect, test } from 'vitest';
import type { Tensor } from '../../engine/index.js';
import { cast, noGrad } from '../../engine/index.js';
import { type Fn, GradcheckError, type GradcheckOptions, gradcheck, gradgradcheck } from '../../engine/gradcheck/gradcheck.js';

/**
 * The property tests every differentiable op must pass (../shared/spec/gradcheck.md §7.3): P1 gradcheck in
 * float64 against central differences, P9 gradgradcheck, and the float32 CPU path against the float64 oracle
 * (forward values and gradients). `test/engine/coverage.test.ts` fails for any registered op that no
 * `opProperty('<name>', …)` call covers, so each op's tests are found by its name.
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

function verdictOk(report: { verdict: string; toString(): string }): void {
  if (report.verdict !== 'pass') throw new GradcheckError(report as never);
}

/** Registers the standard properties of op `name` as vitest tests. */
export function opProperty(name: string, spec: OpPropertySpec): void {
  const numRuns = spec.numRuns;
  test(`${name}: gradcheck (f64)`, () => {
    fc.assert(fc.property(spec.inputs, (xs) => verdictOk(gradcheck(spec.fn, xs, { name, wrt: spec.wrt, ...spec.gradcheckOptions }))), { numRuns });
  });
  if (spec.gradgrad !== false) {
    test(`${name}: gradgradcheck (f64)`, () => {
      fc.assert(fc.property(spec.inputs, (xs) => verdictOk(gradgradcheck(spec.fn, xs, undefined, { name, wrt: spec.wrt, ...spec.gradcheckOptions }))), { numRuns: Math.ceil((numRuns ?? 30) / 2) });
    });
  }
  test(`${name}: f32 forward and gradient vs the f64 oracle`, () => {
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
    );
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

/** Declares an op that has no gradient (comparisons, argmax, random): it must not record a backward. */
export function nonDifferentiable(name: string, make: () => Tensor): void {
  test(`${name}: has no gradient`, () => {
    const y = make();
    expect(y.requiresGrad).toBe(false);
  });
}
