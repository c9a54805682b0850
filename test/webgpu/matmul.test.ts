import fc from 'fast-check';
import { afterEach, test } from 'vitest';
import * as E from '../../engine/index.js';
import type { Tensor } from '../../engine/index.js';
import { webgpu } from '../../engine/backends/webgpu/context.js';
import { type MatmulVariant, variantName } from '../../engine/backends/webgpu/matmul-shaders.js';
import { TUNING_TABLE, adapterClass, forceMatmulVariant, runsOn } from '../../engine/backends/webgpu/tuning.js';
import { checkGradients, cpuTensor, describeGpu, expectClose, onGpu, oracle } from './helpers.js';

/*
 * matmul on WebGPU against the CPU float64 oracle, under every variant of the tuning table (forced, so that the
 * variants other adapters pick run here too), on odd sizes around the tile edges, broadcast batch dims, and
 * operands transposed through their strides. The 'vec4' variants only serve aligned operands (others fall back),
 * so they get sizes in multiples of 4 as well. A float32 dot product of K terms is within (K + 1)·u·Σ|a·b| of the
 * exact one, so each element's bound is (K + 1)·u·(|A|·|B|), the last factor from the oracle on absolute values.
 */

afterEach(() => forceMatmulVariant(undefined));

/** Every variant named in the table, once. */
const variants: MatmulVariant[] = [
  ...new Map(Object.values(TUNING_TABLE).flatMap((e) => [e.matmul, e.unaligned, ...e.candidates]).map((v) => [variantName(v), v])).values(),
];

const side = fc.constantFrom(1, 2, 3, 5, 17, 31, 63, 64, 65, 97);

/** Batch shapes of A and B that broadcast (each dim of one side may be 1, B may lack leading dims). */
const caseArb = fc.record({
  m: side,
  k: fc.constantFrom(0, 1, 3, 16, 17, 65, 130),
  n: side,
  batch: fc.array(fc.constantFrom(1, 2, 3), { maxLength: 2 }),
  ones: fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 2, maxLength: 2 }),
  dropB: fc.boolean(),
  transposeA: fc.boolean(),
  transposeB: fc.boolean(),
  seed: fc.nat(),
});

/** Sizes the 'vec4' schedule takes (K and N multiples of 4, operands not transposed), M still odd. */
const alignedArb = caseArb.chain((c) =>
  fc.record({ k: fc.constantFrom(4, 8, 12, 64, 132), n: fc.constantFrom(4, 8, 28, 68, 100) }).map((q) => ({ ...c, ...q, transposeA: false, transposeB: false })),
);

interface Case {
  m: number;
  k: number;
  n: number;
  batch: number[];
  ones: number[];
  dropB: boolean;
  transposeA: boolean;
  transposeB: boolean;
  seed: number;
}

/** A stored as [..., K, M] and viewed transposed, when asked: same values, other strides. */
function operand(shape: number[], transposed: boolean, seed: number): { values: Tensor; layout: (t: Tensor) => Tensor } {
  return { values: cpuTensor(shape, seed), layout: transposed ? (t) => E.transpose(E.contiguous(E.transpose(t)), -1, -2) : (t) => t };
}

async function checkCase(c: Case): Promise<void> {
  const batchA = c.batch.map((s, i) => (c.ones[i] === 1 ? 1 : s));
  const batchB = c.batch.map((s, i) => (c.ones[i] === 2 ? 1 : s)).slice(c.dropB ? 1 : 0);
  const a = operand([...batchA, c.m, c.k], c.transposeA, c.seed);
  const b = operand([...batchB, c.k, c.n], c.transposeB, c.seed + 1);
  const fn = (x: Tensor, y: Tensor) => E.matmul(a.layout(x), b.layout(y));
  const scale = oracle((x, y) => E.matmul(E.abs(x), E.abs(y)), [a.values, b.values]);
  expectClose('matmul', await onGpu(fn, [a.values, b.values]), oracle(fn, [a.values, b.values]), { ulps: c.k + 1, scale });
  if (c.m * c.n * c.k <= 20000) await checkGradients('matmul', fn, [a.values, b.values], c.k + 2, c.seed);
}

describeGpu('matmul on WebGPU vs the float64 oracle', () => {
  for (const variant of variants) {
    test(`batched products with broadcasting and transposed operands (${variantName(variant)})`, async (ctx) => {
      const adapter = webgpu().adapter;
      if (!runsOn(variant, adapter)) ctx.skip();
      // Variants meant for other adapters can be slow here (a GPU's large tiles on lavapipe): fewer runs.
      const numRuns = TUNING_TABLE[adapterClass(adapter)].candidates.some((v) => variantName(v) === variantName(variant)) ? 12 : 4;
      forceMatmulVariant(variant);
      await fc.assert(fc.asyncProperty(caseArb, checkCase), { numRuns });
      if (variant.schedule === 'vec4') await fc.assert(fc.asyncProperty(alignedArb, checkCase), { numRuns: Math.ceil(numRuns / 2) });
    });
  }

  test('the 1-D rules of torch.matmul and linear with bias', async () => {
    const v = cpuTensor([17], 1);
    const m = cpuTensor([17, 5], 2);
    const w = cpuTensor([7, 17], 3);
    const bias = cpuTensor([7], 4);
    const x = cpuTensor([3, 4, 17], 5);
    const cases: [string, (...ts: Tensor[]) => Tensor, Tensor[]][] = [
      ['dot', (p, q) => E.matmul(p, q), [v, v]],
      ['vector·matrix', (p, q) => E.matmul(p, q), [v, m]],
      ['matrix·vector', (p, q) => E.matmul(p, q), [w, v]],
      ['linear', (p, q, r) => E.linear(p, q, r), [x, w, bias]],
    ];
    for (const [name, fn, inputs] of cases) {
      const scale = oracle((...ts) => fn(...ts.map(E.abs)), inputs);
      expectClose(name, await onGpu(fn, inputs), oracle(fn, inputs), { ulps: 20, scale });
      await checkGradients(name, fn, inputs, 20, 9);
    }
  });

  test('more than 65535 matrices in one batch (several dispatches)', async () => {
    const a = cpuTensor([65537, 2, 3], 1);
    const b = cpuTensor([65537, 3, 1], 2);
    const scale = oracle((x, y) => E.matmul(E.abs(x), E.abs(y)), [a, b]);
    expectClose('matmul', await onGpu(E.matmul, [a, b]), oracle(E.matmul, [a, b]), { ulps: 4, scale });
  });
});
