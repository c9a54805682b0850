import { describe, expect, test } from 'vitest';
import * as E from '../../engine/index.js';
import type { Backend, Tensor } from '../../engine/index.js';
import { defineOp, runOp } from '../../engine/op.js';
import { registerBackend } from '../../engine/backend.js';
import { typedArrayFor } from '../../engine/dtype.js';
import { cpuBackend } from '../../engine/backends/cpu/index.js';
import { type CpuStorage, makeCpuStorage } from '../../engine/backends/cpu/storage.js';
import { checkHygiene } from '../helpers/props.js';
import { FULL_MODE_LIMIT, GradcheckError, assertGradcheck, checkJvpVjp, compareBackends, gradcheck, gradgradcheck, tensorFromHex } from '../../engine/gradcheck/index.js';

/*
 * gradcheck itself must be able to fail: each check here is run on deliberately broken backward rules as well as
 * on correct ones. The broken rules sit on identity views (a view op records its own backward, and needs no
 * kernel), registered under test-only names in this test process alone.
 */

type Rule = (g: Tensor, x: Tensor) => Tensor;

/** An identity op whose backward is `rule` instead of the identity. */
function identityWithBackward(name: string, rule: Rule): (x: Tensor) => Tensor {
  const def = defineOp<object>({
    name: `gradcheck-test:${name}`,
    family: 'shape',
    kind: 'view',
    view: (x) => ({ shape: x.shape, strides: x.strides, offset: x.offset }),
    backward: ({ inputs: [x] }, [g]) => [rule(g!, x!)],
  });
  return (x) => runOp(def, [x], {})[0]!;
}

/** A one-hot mask of `shape` at flat index `at`. */
function oneHot(shape: readonly number[], at: number): Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  return E.fromArray(Array.from({ length: size }, (_, i) => (i === at ? 1 : 0)), shape, { dtype: 'float64' });
}

const doubled = identityWithBackward('doubled', (g) => E.mul(g, 2));
/** J[7][7] = 2 instead of 1 on a [4, 5] tensor (multi-index (1, 2)); every other entry right. */
const wrongAt7 = identityWithBackward('wrong-entry-7', (g) => E.add(g, E.mul(g, oneHot(g.shape, 7))));
/** For [20, 20]: J[(13,17)][(13,17)] wrong, a single entry among 160 000. */
const wrongAt277 = identityWithBackward('wrong-entry-277', (g) => E.add(g, E.mul(g, oneHot(g.shape, 277))));
/** Right to first order, but the detached cotangent makes every second derivative through it zero. */
const detachedBackward = identityWithBackward('detached', (g) => E.detach(g));
/** g·g is not linear in g: pullbacks and their derivative in g (the engine's jvp) disagree. */
const squaredCotangent = identityWithBackward('squared-cotangent', (g) => E.mul(g, g));

const f64 = (values: number[], shape?: number[]) => E.fromArray(values, shape ?? [values.length], { dtype: 'float64' });
const ramp = (n: number, shape: number[], scale = 1 / 16, shift = 0) => f64(Array.from({ length: n }, (_, i) => ((i % 29) - 14) * scale + shift), shape);

describe('gradcheck verdicts', () => {
  test('passes on correct gradients (elementwise, broadcasting, reductions, several inputs)', () => {
    const x = ramp(12, [3, 4]);
    const w = f64([0.5, -1.25, 2, 0.75], [4]);
    const fn = (a: Tensor, b: Tensor) => E.sum(E.mul(E.tanh(a), E.exp(b)), 1);
    const report = gradcheck(fn, [x, w]);
    expect(report.verdict).toBe('pass');
    expect(report.mode).toBe('full');
    expect(report.checked).toBe(12 * 3 + 4 * 3);
    expect(report.failed + report.inconclusive).toBe(0);
    expect(report.pairs.map((p) => [p.input, p.output, p.checked])).toEqual([
      [0, 0, 36],
      [1, 0, 12],
    ]);
    expect(() => assertGradcheck(fn, [x, w])).not.toThrow();
  });

  test('fails on a wrong gradient, naming the factor', () => {
    const x = ramp(6, [2, 3]);
    const report = gradcheck((a) => doubled(E.exp(a)), [x], { name: 'doubled-exp' });
    expect(report.verdict).toBe('fail');
    expect(report.failed).toBe(6);
    expect(report.hints.join('\n')).toMatch(/analytical = 2\.00000 × numerical/);
    expect(report.hints.join('\n')).toMatch(/diagonal/);
    expect(() => assertGradcheck((a) => doubled(E.exp(a)), [x])).toThrow(GradcheckError);
  });

  test('a single wrong entry fails alone, and the report locates it by multi-index', () => {
    const x = ramp(20, [4, 5]);
    const report = gradcheck(wrongAt7, [x], { name: 'wrong-entry' });
    expect(report.verdict).toBe('fail');
    expect(report.failed).toBe(1);
    expect(report.checked).toBe(400);
    const [worst] = report.worst;
    expect(worst).toMatchObject({ status: 'fail', inIndex: [1, 2], outIndex: [1, 2], analytical: 2, numerical: 1 });
    expect(worst!.ratio).toBeGreaterThan(1);
    const text = report.toString();
    expect(text).toContain('op=wrong-entry backend=cpu-f64 mode=full scheme=central verdict=fail');
    expect(text).toContain('J[y0(1,2) ← x0(1,2)]  analytical=2.0000000  numerical=1.0000000');
    expect(text).toContain('hint: a single entry fails: J[y0(1,2) ← x0(1,2)]');
    expect(text).toMatch(/FD step h=7\.6e-6 \(2\^-17\)/);
    // Exact inputs: x(0,0) = -14/16 = -0.875 = 0xbfec000000000000.
    expect(text).toContain('x0 = f64-hex[0xbfec000000000000,');
  });

  test('is inconclusive at a kink (abs at 0), never a pass', () => {
    const x = f64([0, 0.5, -0.25]);
    const report = gradcheck(E.abs, [x], { name: 'abs' });
    expect(report.verdict).toBe('inconclusive');
    expect(report.inconclusive).toBe(1);
    const [kink] = report.worst;
    expect(kink).toMatchObject({ status: 'inconclusive', kink: true, inIndex: [0], outIndex: [0], slopes: [1, -1] });
    expect(report.toString()).toMatch(/kink: 1 entry at non-differentiable points/);
    expect(() => assertGradcheck(E.abs, [x])).toThrow(GradcheckError);
    expect(gradcheck(E.abs, [x], { scheme: 'richardson' }).verdict).toBe('inconclusive');
  });

  test('fails at a kink when the analytical value lies outside both one-sided slopes', () => {
    // abs(x) + x has slopes 0 (left) and 2 (right) at 0; the tripled backward claims 3·(sign(0) + 1) = 3.
    const tripled = identityWithBackward('tripled', (g) => E.mul(g, 3));
    const report = gradcheck((a) => tripled(E.add(E.abs(a), a)), [f64([0])]);
    expect(report.verdict).toBe('fail');
    expect(report.worst[0]).toMatchObject({ kink: true, status: 'fail', analytical: 3 });
  });

  test('float32 inputs are judged against the lifted float64 oracle', () => {
    const x = E.cast(ramp(8, [8]), 'float32');
    const report = gradcheck(E.sin, [x]);
    expect(report.verdict).toBe('pass');
    expect(report.backend).toBe('cpu-f32');
    expect([report.atol, report.rtol]).toEqual([1e-6, 1e-5]);
    expect(gradcheck((a) => doubled(E.sin(a)), [x]).verdict).toBe('fail');
  });

  test('gradgradcheck passes on correct double backward and fails when the backward is not differentiable', () => {
    const x = ramp(6, [6]);
    expect(gradgradcheck(E.tanh, [x]).verdict).toBe('pass');
    expect(gradcheck((a) => detachedBackward(E.mul(a, a)), [x]).verdict).toBe('pass');
    const second = gradgradcheck((a) => detachedBackward(E.mul(a, a)), [x], undefined, { name: 'detached' });
    expect(second.verdict).toBe('fail');
    expect(second.toString()).toContain('op=detached (grad of grad)');
  });
});

describe('projected mode', () => {
  const x = ramp(400, [20, 20]);

  test('auto switches to projected above the full-mode limit and passes correct gradients', () => {
    expect(400 * 400).toBeGreaterThan(FULL_MODE_LIMIT);
    const report = gradcheck(E.exp, [x]);
    expect(report.mode).toBe('projected');
    expect(report.verdict).toBe('pass');
    expect(report.projections).toHaveLength(4);
    expect(report.projections!.every((p) => p.status === 'ok')).toBe(true);
    expect(report.localisation).toBeUndefined();
  });

  test('catches one wrong entry among 160 000 and localises it by bisection', () => {
    const report = gradcheck((a) => wrongAt277(E.exp(a)), [x], { name: 'one-wrong', seed: 5 });
    expect(report.verdict).toBe('fail');
    const loc = report.localisation!;
    expect(loc.pairs.map((p) => p.status)).toEqual(['fail']);
    expect(loc.blocks.length).toBeGreaterThan(0);
    expect(loc.blocks.every((b) => (b.columns[1] - b.columns[0]) * (b.rows[1] - b.rows[0]) <= FULL_MODE_LIMIT)).toBe(true);
    expect(loc.entries).toHaveLength(1);
    expect(loc.entries[0]).toMatchObject({ inIndex: [13, 17], outIndex: [13, 17], status: 'fail' });
    const text = report.toString();
    expect(text).toContain('mode=projected');
    expect(text).toContain('Rademacher u and v from seed 5');
    expect(text).toContain('J[y0(13,17) ← x0(13,17)]');
    expect(report.seed).toBe(5);
  });

  test('projected mode on a small problem agrees with full mode', () => {
    const small = ramp(20, [4, 5]);
    const report = gradcheck(wrongAt7, [small], { mode: 'projected', projections: 2 });
    expect(report.verdict).toBe('fail');
    expect(report.localisation!.blocks).toEqual([{ input: 0, output: 0, columns: [0, 20], rows: [0, 20], checked: 400, failed: 1, inconclusive: 0 }]);
    expect(report.localisation!.entries[0]).toMatchObject({ inIndex: [1, 2], outIndex: [1, 2] });
  });
});

describe('schemes', () => {
  const x = ramp(10, [10], 1 / 8, 0.0625);
  const smooth = (a: Tensor) => E.mul(E.exp(a), E.sin(a));

  test('richardson passes at tighter tolerances, with a smaller error than central differences', () => {
    const rich = gradcheck(smooth, [x], { scheme: 'richardson', topK: 100 });
    const cent = gradcheck(smooth, [x], { topK: 100 });
    expect(rich.verdict).toBe('pass');
    expect([rich.atol, rich.rtol]).toEqual([1e-10, 1e-8]);
    const maxError = (r: typeof rich) => Math.max(...r.worst.map((e) => Math.abs(e.analytical - e.numerical)));
    expect(maxError(rich)).toBeLessThan(maxError(cent));
    expect(maxError(rich)).toBeLessThan(1e-11);
    expect(gradcheck(wrongAt7, [ramp(20, [4, 5])], { scheme: 'richardson' }).failed).toBe(1);
  });

  test('taylor: rates ≈ 2 for a right gradient, ≈ 1 for a wrong one', () => {
    const loss = (a: Tensor) => E.sum(smooth(a));
    const right = gradcheck(loss, [x], { scheme: 'taylor' });
    expect(right.verdict).toBe('pass');
    expect(right.taylor!.rates).toHaveLength(4);
    for (const rate of right.taylor!.rates) expect(Math.abs(rate! - 2)).toBeLessThan(0.1);

    const wrong = gradcheck((a) => E.sum(doubled(smooth(a))), [x], { scheme: 'taylor' });
    expect(wrong.verdict).toBe('fail');
    for (const rate of wrong.taylor!.rates) expect(Math.abs(rate! - 1)).toBeLessThan(0.1);
    expect(wrong.toString()).toMatch(/rate=1\.0/);
  });

  test('taylor on a non-scalar output weighs it by a cotangent; an affine map passes at round-off', () => {
    expect(gradcheck(smooth, [x], { scheme: 'taylor' }).verdict).toBe('pass');
    const affine = gradcheck((a) => E.add(E.mul(a, 3), 1), [x], { scheme: 'taylor' });
    expect(affine.verdict).toBe('pass');
    expect(affine.taylor!.rates.every((r) => r === null)).toBe(true);
  });
});

describe('jvp/vjp consistency', () => {
  test('⟨v, J u⟩ from jvp equals ⟨Jᵀv, u⟩ from vjp to ~1e-12', () => {
    const x = ramp(12, [3, 4]);
    const w = ramp(4, [4], 1 / 4);
    const report = checkJvpVjp((a, b) => E.softmax(E.mul(E.tanh(a), b), -1), [x, w]);
    expect(report.verdict).toBe('pass');
    expect(report.difference).toBeLessThanOrEqual(report.tol);
    expect(report.tol).toBeLessThan(1e-10);
    expect(Math.abs(report.forward)).toBeGreaterThan(1e-3);
  });

  test('fails for a backward that is not linear in its cotangent', () => {
    const report = checkJvpVjp((a) => squaredCotangent(E.exp(a)), [ramp(6, [6])]);
    expect(report.verdict).toBe('fail');
    expect(report.toString()).toContain('verdict=fail');
  });
});

describe('report', () => {
  test('toJSON round-trips the exact inputs, which replay to the same verdict', () => {
    const x = f64([0.1, -1 / 3, Math.PI], [3]);
    const report = gradcheck((a) => doubled(E.sin(a)), [x], { seed: 42 });
    const json = JSON.parse(JSON.stringify(report)) as ReturnType<typeof report.toJSON>;
    expect(json.verdict).toBe('fail');
    expect(json.seed).toBe(42);
    expect(json.worst[0]).toHaveProperty('inIndex');
    const [info] = json.inputs;
    const replayed = tensorFromHex(info!.hex, info!.shape, info!.dtype);
    expect(Array.from(replayed.toArraySync())).toEqual(Array.from(x.toArraySync()));
    expect(gradcheck((a) => doubled(E.sin(a)), [replayed], { seed: 42 }).worst).toEqual(report.worst);
  });

  test('GradcheckError carries the report and prints it', () => {
    try {
      assertGradcheck(wrongAt7, [ramp(20, [4, 5])], { name: 'boom' });
      expect.fail('assertGradcheck did not throw');
    } catch (e) {
      expect(e).toBeInstanceOf(GradcheckError);
      const err = e as GradcheckError;
      expect(err.report.failed).toBe(1);
      expect(String(err)).toMatch(/^GradcheckError: op=boom backend=cpu-f64/);
    }
  });
});

describe('compareBackends', () => {
  /** A CPU clone whose exp is 0.1% too large: a kernel bug that parity must find. */
  const faulty: Backend = {
    name: 'gradcheck-test-faulty',
    alloc: (dtype, length) => makeCpuStorage(faulty, dtype, typedArrayFor(dtype, length)),
    release: () => {},
    upload: (data) => makeCpuStorage(faulty, data instanceof Float64Array ? 'float64' : data instanceof Int32Array ? 'int32' : 'float32', data),
    read: async (storage, offset, length) => faulty.readSync!(storage, offset, length),
    readSync: (storage, offset, length) => (storage as CpuStorage).data.slice(offset, offset + length),
    kernel: (op) => {
      const kernel = cpuBackend.kernel(op);
      if (op !== 'exp' || !kernel) return kernel;
      return (inputs, outputs, attrs) => {
        kernel(inputs, outputs, attrs);
        const out = (outputs[0]!.storage as CpuStorage).data;
        for (let i = 0; i < out.length; i++) out[i] = out[i]! * 1.001;
      };
    },
  };
  registerBackend(faulty);

  const x = ramp(12, [3, 4]);
  const w = ramp(4, [4], 1 / 4);
  const fn = (a: Tensor, b: Tensor) => E.sum(E.mul(E.exp(a), b), 1);

  test('cpu-f32 agrees with cpu-f64 within the f32 bound', async () => {
    const report = await compareBackends(fn, [x, w], { test: 'cpu-f32', terms: 4 });
    expect(report.verdict).toBe('pass');
    expect(report.checked).toBe(3 + 12 + 4);
    expect(report.tensors.map((t) => [t.what, t.tensor])).toEqual([
      ['output', 0],
      ['grad', 0],
      ['grad', 1],
    ]);
  });

  test('a faulty backend, selected by name, fails and the report names its worst entries', async () => {
    const report = await compareBackends(fn, [x, w], { test: 'gradcheck-test-faulty-f32', terms: 4 });
    expect(report.verdict).toBe('fail');
    expect(report.failed).toBeGreaterThan(0);
    expect(report.worst[0]).toMatchObject({ status: 'fail' });
    expect(report.worst[0]!.cpuF32).toBeDefined();
    expect(report.toString()).toMatch(/test=gradcheck-test-faulty-f32 verdict=fail/);
    expect(report.toString()).toContain('worst (sorted by |test−ref| / bound):');
  });

  test('the accumulation term n·ε₃₂·Σ|terms| is what lets a long f32 sum pass', async () => {
    const long = ramp(4096, [4096], 1 / 3);
    const sumAll = (a: Tensor) => E.sum(a);
    expect((await compareBackends(sumAll, [long], { test: 'cpu-f32', atol: 0, rtol: 0 })).verdict).toBe('fail');
    expect((await compareBackends(sumAll, [long], { test: 'cpu-f32', atol: 0, rtol: 0, terms: 4096 })).verdict).toBe('pass');
  });
});

describe('autograd hygiene (P2–P5, run by opProperty)', () => {
  const x = ramp(6, [2, 3]);
  const check = (name: string, rule: Rule) => () => checkHygiene(name, identityWithBackward(`hygiene-${name}`, rule), [x]);

  test('holds for a correct backward', () => {
    expect(check('identity', (g) => g)).not.toThrow();
    expect(() => checkHygiene('tanh·w', (a, b) => E.mul(E.tanh(a), b), [x, ramp(3, [3], 1 / 4)])).not.toThrow();
  });

  test('P2: a zero cotangent must give exactly zero, and the pullback must be linear in the cotangent', () => {
    expect(check('offset', (g) => E.add(g, 0.5))).toThrow(/not exactly zero for a zero cotangent/);
    expect(check('squared', (g) => E.mul(g, g))).toThrow(/not linear in the cotangent/);
  });

  test('P3: a gradient of the wrong dtype is caught', () => {
    expect(check('to-f32', (g) => E.cast(g, 'float32'))).toThrow(/dtype/);
  });

  test('P4: a backward that drifts between calls is caught', () => {
    let calls = 0;
    // Drifts by 2^-48 per call: linear to 1e-12, so only the bitwise comparison sees it.
    expect(check('drifting', (g) => E.mul(g, 1 + ++calls * 2 ** -48))).toThrow(/differs/);
  });

  test('P5: a backward that writes into its input is caught', () => {
    const writes = (g: Tensor, input: Tensor) => {
      (input.storage as CpuStorage).data[input.offset] += 1;
      return g;
    };
    expect(() => checkHygiene('writer', identityWithBackward('hygiene-writer', writes), [ramp(6, [2, 3])])).toThrow(/input 0 was mutated/);
  });
});
