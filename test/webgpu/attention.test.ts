import fc from 'fast-check';
import { afterAll, beforeAll, expect, test, vi } from 'vitest';
import * as E from '../../engine/index.js';
import type { Tensor } from '../../engine/index.js';
import { webgpu } from '../../engine/backends/webgpu/context.js';
import { attentionSchedule, forceAttentionSchedule, forceFusedAttention } from '../../engine/backends/webgpu/tuning.js';
import { numel } from '../../engine/shape.js';
import { checkGradients, cpuTensor, describeGpu, expectClose, gradients, onGpu, oracle, toGpu } from './helpers.js';

/*
 * The fused attention kernels on WebGPU (engine/backends/webgpu/attention*.ts) against the CPU float64 oracle,
 * which runs the composite definition: forward values and gradients (through the fused backward) for random
 * batch dims that broadcast, L ≠ S, sizes that are not multiples of the workgroup's rows or the key block,
 * E ≠ Ev, causal or not, and each mask form; and that neither the forward nor the backward allocates anything
 * of L×S elements. The kernels run in the schedule the tuning table gives this adapter ('subgroup' on
 * lavapipe), and are checked in the other schedule too, where the adapter can run it.
 *
 * Sizes stay small in E and Ev: each ⌈E/4⌉, ⌈Ev/4⌉ pair is a new pipeline, and lavapipe compiles each one for
 * a long time. Error bounds: a score is a sum of E products, an output or gradient entry a sum of S (or L)
 * weighted terms, so the bound is (E + S + L + c)·u of the problem's scale.
 */

type MaskForm = 'none' | 'causal' | 'keep' | 'additive';

interface Case {
  batch: { q: number[]; k: number[]; v: number[]; out: number[] };
  L: number;
  S: number;
  E: number;
  Ev: number;
  form: MaskForm;
  seed: number;
}

/** Batch dims of the output and of q, k, v, each of which may hold 1 where the others do not (broadcast). */
const batchArb = fc.array(fc.integer({ min: 1, max: 3 }), { maxLength: 2 }).chain((out) =>
  fc.tuple(...[0, 1, 2].map(() => fc.array(fc.boolean(), { minLength: out.length, maxLength: out.length }))).map(([bq, bk, bv]) => ({
    out,
    q: out.map((s, i) => (bq![i] ? 1 : s)),
    k: out.map((s, i) => (bk![i] ? 1 : s)),
    v: out.map((s, i) => (bv![i] ? 1 : s)),
  })),
);

const caseArb: fc.Arbitrary<Case> = fc.record({
  batch: batchArb,
  L: fc.constantFrom(1, 3, 9, 64, 70),
  S: fc.constantFrom(1, 5, 8, 17, 67),
  // E up to 4 keeps the forward to one pipeline per mask form (cold, lavapipe compiles each for seconds); the
  // ragged vec4 tail is exercised by E and Ev not multiples of 4, and Ev spans one and two vec4s.
  E: fc.integer({ min: 1, max: 4 }),
  Ev: fc.integer({ min: 1, max: 8 }),
  form: fc.constantFrom<MaskForm>('none', 'causal', 'keep', 'additive'),
  seed: fc.nat(1000),
});

/** Inputs q, k, v and the mask (the keep-mask leaves every query its diagonal key, so no row is all masked). */
function inputsOf(c: Case): { inputs: Tensor[]; fn: (...xs: Tensor[]) => Tensor } {
  const q = cpuTensor([...c.batch.q, c.L, c.E], c.seed);
  const k = cpuTensor([...c.batch.k, c.S, c.E], c.seed + 1);
  const v = cpuTensor([...c.batch.v, c.S, c.Ev], c.seed + 2);
  const attend = (a: Tensor, b: Tensor, d: Tensor, mask?: Tensor) => E.scaledDotProductAttention(a, b, d, { isCausal: c.form === 'causal', mask, scale: 0.7 });
  if (c.form === 'keep') {
    const keep = Int32Array.from({ length: c.L * c.S }, (_, i) => +((i * 7 + c.seed) % 3 !== 0 || i % c.S === Math.floor(i / c.S) % c.S));
    return { inputs: [q, k, v, E.fromArray(keep, [c.L, c.S], { dtype: 'int32' })], fn: attend };
  }
  if (c.form === 'additive') {
    // Broadcast over the rows too: the mask is read through its strides, 0 along broadcast dims. Detached: a
    // mask that requires a gradient takes the composite path, and the fused backward is what is tested here.
    return { inputs: [q, k, v, cpuTensor([1, c.S], c.seed + 3)], fn: (a, b, d, m) => attend(a, b, d, E.detach(m!)) };
  }
  return { inputs: [q, k, v], fn: attend };
}

const bound = (c: Case) => (c.E + c.S + c.L + 16) * 2 ** -24 * 8;

describeGpu('fused scaled-dot-product attention on WebGPU vs the float64 oracle', () => {
  // On some adapters the tuning table runs the forward or the backward as its composite; the fused kernels are tested here.
  beforeAll(() => forceFusedAttention(true));
  afterAll(() => forceFusedAttention(undefined));

  test('forward and gradients: broadcast batch dims, L ≠ S, ragged tiles, E ≠ Ev, causal, keep and additive masks', async () => {
    await fc.assert(
      fc.asyncProperty(caseArb, async (c) => {
        const { inputs, fn } = inputsOf(c);
        const want = oracle(fn, inputs);
        const scale = Math.max(1, ...Array.from(want, Math.abs));
        expectClose(`attention ${JSON.stringify(c)}`, await onGpu(fn, inputs), want, { atol: bound(c) * scale });
        await checkGradients(`attention ${JSON.stringify(c)}`, fn, inputs, (c.E + c.S + c.L + 16) * 8, c.seed);
      }),
      { numRuns: 10 },
    );
    // Cold (a fresh CI machine), lavapipe compiles each new pipeline for seconds.
  }, 300_000);

  test('the other schedule: forward and gradients in each schedule the adapter runs', async () => {
    const usual = attentionSchedule(webgpu().adapter);
    for (const schedule of ['row', 'subgroup'] as const) {
      forceAttentionSchedule(schedule);
      try {
        if (schedule === usual || attentionSchedule(webgpu().adapter) !== schedule) continue;
        await fc.assert(
          fc.asyncProperty(caseArb, async (c) => {
            const { inputs, fn } = inputsOf(c);
            const want = oracle(fn, inputs);
            const scale = Math.max(1, ...Array.from(want, Math.abs));
            expectClose(`attention (${schedule}) ${JSON.stringify(c)}`, await onGpu(fn, inputs), want, { atol: bound(c) * scale });
            await checkGradients(`attention (${schedule}) ${JSON.stringify(c)}`, fn, inputs, (c.E + c.S + c.L + 16) * 8, c.seed);
          }),
          { numRuns: 10 },
        );
      } finally {
        forceAttentionSchedule(undefined);
      }
    }
  }, 300_000);

  test('head dims past one vec4 per lane: E ≠ Ev, ragged rows and keys, causal and masked', async () => {
    // With 8 lanes, E = 36 and Ev = 40 give each lane two column vec4s of dQ, dK, dV and O in the 'subgroup' schedule.
    const q = cpuTensor([2, 37, 36], 19);
    const k = cpuTensor([2, 45, 36], 20);
    const v = cpuTensor([2, 45, 40], 21);
    const bias = cpuTensor([37, 45], 22);
    const cases: [string, (...xs: Tensor[]) => Tensor, Tensor[]][] = [
      ['causal', (a, b, d) => E.scaledDotProductAttention(a!, b!, d!, { isCausal: true }), [q, k, v]],
      ['additive mask', (a, b, d, m) => E.scaledDotProductAttention(a!, b!, d!, { mask: m }), [q, k, v, bias]],
    ];
    for (const [name, fn, inputs] of cases) {
      const want = oracle(fn, inputs);
      const scale = Math.max(1, ...Array.from(want, Math.abs));
      expectClose(`attention, Ev = 40, ${name}`, await onGpu(fn, inputs), want, { atol: (36 + 45 + 37 + 16) * 2 ** -24 * 8 * scale });
      // Gradients in one case only: the backward's two pipelines of this size take lavapipe tens of seconds to compile.
      if (name === 'causal') await checkGradients(`attention, Ev = 40, ${name}`, fn, inputs, (36 + 45 + 37 + 16) * 8, 23);
    }
  }, 300_000);

  test('a row whose keys are all masked gives NaN, as the composite does', async () => {
    const q = cpuTensor([3, 2], 1);
    const k = cpuTensor([4, 2], 2);
    const v = cpuTensor([4, 3], 3);
    const keep = E.fromArray([1, 0, 1, 0, 0, 0, 0, 0, 1, 1, 1, 1], [3, 4], { dtype: 'int32' });
    const fn = (a: Tensor, b: Tensor, d: Tensor, m: Tensor) => E.scaledDotProductAttention(a, b, d, { mask: m });
    const got = Array.from(await onGpu(fn, [q, k, v, keep]));
    expect(got.slice(3, 6).every(Number.isNaN)).toBe(true);
    expectClose('rows with keys', [...got.slice(0, 3), ...got.slice(6)], [...Array.from(oracle(fn, [q, k, v, keep])).slice(0, 3), ...Array.from(oracle(fn, [q, k, v, keep])).slice(6)], { atol: 1e-6 });
    // The fused backward gives the masked row a NaN dq, as the backward op's composite does (autograd through the
    // forward's composite gives 0 there); the other rows' dq match.
    const { want, got: grads } = await gradients(fn, [q, k, v, keep], 4);
    const dq = Array.from(grads[0]!);
    expect(dq.slice(2, 4).every(Number.isNaN)).toBe(true);
    expectClose('dq of the rows with keys', [...dq.slice(0, 2), ...dq.slice(4)], [...want[0]!.slice(0, 2), ...want[0]!.slice(4)], { atol: 1e-5 });
  });

  test('a float mask that requires a gradient gets it (through the composite path)', async () => {
    const q = cpuTensor([2, 5, 3], 4);
    const k = cpuTensor([2, 6, 3], 5);
    const v = cpuTensor([2, 6, 2], 6);
    const bias = cpuTensor([5, 6], 7);
    await checkGradients('attention with a learned bias', (a, b, d, m) => E.scaledDotProductAttention(a!, b!, d!, { mask: m }), [q, k, v, bias], 64, 3);
  });

  test('second derivatives through the fused backward match the CPU', async () => {
    const q = cpuTensor([2, 9, 3], 8);
    const k = cpuTensor([2, 11, 3], 9);
    const v = cpuTensor([2, 11, 5], 10);
    const dir = cpuTensor([2, 9, 3], 11);
    // d/dk of ⟨∂L/∂q, dir⟩ for L = Σ attention(q, k, v)²: a gradient of the backward op's own gradient.
    const secondOrder = (a: Tensor, b: Tensor, d: Tensor, w: Tensor) => {
      const leaves = [a, b].map((t) => E.detach(t).requiresGrad_());
      const y = E.scaledDotProductAttention(leaves[0]!, leaves[1]!, d, { isCausal: true });
      const [gq] = E.grad([E.sum(E.mul(y, y))], [leaves[0]!], undefined, { createGraph: true });
      return E.grad([E.sum(E.mul(gq!, w))], [leaves[1]!])[0]!;
    };
    const want = oracle(secondOrder, [q, k, v, dir]);
    const scale = Math.max(1, ...Array.from(want, Math.abs));
    expectClose('second derivative', await onGpu(secondOrder, [q, k, v, dir]), want, { atol: 1e-4 * scale });
  });

  test('no buffer of L×S elements: the largest allocation of forward and backward is far below it', async () => {
    const [L, S, D] = [512, 384, 4];
    const q = toGpu(cpuTensor([L, D], 12));
    const k = toGpu(cpuTensor([S, D], 13));
    const v = toGpu(cpuTensor([S, D], 14));
    const g = toGpu(cpuTensor([L, D], 15));
    await E.webgpuSync();
    const { pool } = webgpu().queue;
    const alloc = vi.spyOn(pool, 'alloc');
    try {
      await E.scope(async () => {
        const leaves = [q, k, v].map((t) => t.requiresGrad_());
        const y = E.scaledDotProductAttention(leaves[0]!, leaves[1]!, leaves[2]!);
        const grads = E.grad([y], leaves, [g]);
        await Promise.all(grads.map((t) => t.toArray()));
      });
      const largest = Math.max(...alloc.mock.calls.map(([, , length]) => length));
      expect(alloc).toHaveBeenCalled();
      expect(largest).toBeLessThan((L * S) / 16);
    } finally {
      alloc.mockRestore();
    }
  });

  test('the fused output equals the composite run on WebGPU (the two paths agree)', async () => {
    const q = cpuTensor([2, 3, 70, 6], 16);
    const k = cpuTensor([2, 3, 33, 6], 17);
    const v = cpuTensor([2, 3, 33, 7], 18);
    const fused = await onGpu((a, b, d) => E.scaledDotProductAttention(a, b, d, { isCausal: true }), [q, k, v]);
    const composite = await onGpu((a, b, d) => E.scaledDotProductAttentionReference(a, b, d, { isCausal: true }), [q, k, v]);
    expectClose('fused vs composite', fused, composite, { atol: 1e-5 });
    expect(numel([2, 3, 70, 7])).toBe(fused.length);
  });
});
