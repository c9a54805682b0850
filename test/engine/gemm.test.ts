import { afterEach, describe, expect, test, vi } from 'vitest';
import fc from 'fast-check';
import type { TypedArray } from '../../engine/index.js';
import { type BlockKernel, KC, type StridedMatrix, gemmAccumulateWith, referenceBlockKernel } from '../../engine/backends/cpu/matmul.js';
import { op, signedLeb128, unsignedLeb128, valueType, wasmModule } from '../../engine/backends/cpu/wasm/assembler.js';
import { type WasmTiling, createWasmBlockKernel, defaultTiling } from '../../engine/backends/cpu/wasm/block-kernel.js';
import { gemmKernelModule } from '../../engine/backends/cpu/wasm/gemm-kernel.js';

/*
 * The CPU GEMM's two block kernels: the WebAssembly SIMD one must give the same doubles, bit for bit, as the
 * plain TypeScript reference, for any sizes (edges, k beyond one k block), strides, f32 or f64 operands and
 * tilings; and the engine's matmul and conv2d must give the same bits under CPU_GEMM=js and CPU_GEMM=wasm.
 * Values are random doubles, not dyadic ones, so that rounding differs whenever the order of the sums does.
 * Also the assembler underneath: LEB128 and a small module run end to end.
 */

/** Reads an unsigned or signed LEB128 number back. */
function readLeb128(bytes: number[], signed: boolean): number {
  let value = 0;
  let shift = 0;
  for (const byte of bytes) {
    value += (byte & 0x7f) * 2 ** shift;
    shift += 7;
    if ((byte & 0x80) === 0) return signed && byte & 0x40 ? value - 2 ** shift : value;
  }
  throw new Error('readLeb128: the last byte has its continuation bit set');
}

describe('LEB128', () => {
  test('known encodings (the examples of the DWARF and WebAssembly specs)', () => {
    expect(unsignedLeb128(0)).toEqual([0x00]);
    expect(unsignedLeb128(127)).toEqual([0x7f]);
    expect(unsignedLeb128(128)).toEqual([0x80, 0x01]);
    expect(unsignedLeb128(624485)).toEqual([0xe5, 0x8e, 0x26]);
    expect(unsignedLeb128(0xffffffff)).toEqual([0xff, 0xff, 0xff, 0xff, 0x0f]);
    expect(signedLeb128(63)).toEqual([0x3f]);
    expect(signedLeb128(64)).toEqual([0xc0, 0x00]);
    expect(signedLeb128(-1)).toEqual([0x7f]);
    expect(signedLeb128(-64)).toEqual([0x40]);
    expect(signedLeb128(-65)).toEqual([0xbf, 0x7f]);
    expect(signedLeb128(-123456)).toEqual([0xc0, 0xbb, 0x78]);
  });

  test('round trip, the final byte alone without a continuation bit', () => {
    const last = (bytes: number[]) => bytes.every((b, i) => (b & 0x80) === (i === bytes.length - 1 ? 0 : 0x80));
    fc.assert(fc.property(fc.nat({ max: 0xffffffff }), (u) => last(unsignedLeb128(u)) && readLeb128(unsignedLeb128(u), false) === u));
    fc.assert(fc.property(fc.integer({ min: -0x80000000, max: 0x7fffffff }), (s) => last(signedLeb128(s)) && readLeb128(signedLeb128(s), true) === s));
  });

  test('numbers outside u32 or i32 are refused', () => {
    expect(() => unsignedLeb128(-1)).toThrow(/unsignedLeb128: -1 is not a u32/);
    expect(() => unsignedLeb128(2 ** 32)).toThrow(/not a u32/);
    expect(() => signedLeb128(2 ** 31)).toThrow(/signedLeb128: 2147483648 is not an i32/);
    expect(() => signedLeb128(0.5)).toThrow(/not an i32/);
  });
});

describe('the assembler', () => {
  test('a module it writes validates and runs: y += s·x on two lanes of an imported memory', () => {
    const at = 0; // the function's only parameter: a byte address
    const code = [
      ...op.localGet(at),
      ...op.localGet(at), ...op.v128Load(16), // y
      ...op.localGet(at), ...op.v128Load64Splat(32), // s in both lanes
      ...op.localGet(at), ...op.v128Load(0), // x
      ...op.f64x2Mul(), ...op.f64x2Add(),
      ...op.v128Store(16),
    ];
    const bytes = wasmModule({ importModule: 'env', importName: 'memory', minPages: 1 }, [
      { name: 'axpy', params: [valueType.i32], results: [], locals: [], code },
    ]);
    expect(WebAssembly.validate(bytes)).toBe(true);
    const memory = new WebAssembly.Memory({ initial: 1 });
    const { exports } = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } });
    const f64 = new Float64Array(memory.buffer, 64, 5);
    f64.set([1.5, -2, 10, 20, 3]); // x, y, s
    (exports.axpy as (at: number) => void)(64);
    expect(Array.from(f64)).toEqual([1.5, -2, 14.5, 14, 3]);
  });

  test('the GEMM kernel module validates for several tile shapes', () => {
    for (const [rows, vectorsPerRow] of [[4, 2], [6, 2], [2, 4], [1, 1], [8, 1]] as const) {
      expect(WebAssembly.validate(gemmKernelModule(rows, vectorsPerRow))).toBe(true);
    }
  });

  test('without WebAssembly SIMD there is no wasm kernel (the reference takes over)', () => {
    const validate = vi.spyOn(WebAssembly, 'validate').mockReturnValue(false);
    try {
      expect(createWasmBlockKernel()).toBeNull();
    } finally {
      validate.mockRestore();
    }
  });

  test('a tiling whose blocks are not whole tiles is refused', () => {
    expect(() => createWasmBlockKernel({ rows: 6, vectorsPerRow: 2, mc: 64, nc: 512 })).toThrow(/mc 64 must be a multiple of 6/);
  });
});

/** Random doubles in [-2, 2] from a seed (xorshift32): cheaper than drawing each one through fast-check. */
function randomValues(seed: number, length: number): number[] {
  let state = seed >>> 0 || 1;
  return Array.from({ length }, () => {
    state ^= state << 13; state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5; state >>>= 0;
    return state / 2 ** 31 - 1 + Math.sin(state); // not dyadic: products and sums round
  });
}

type Layout = 'rowMajor' | 'columnMajor' | 'broadcastRows' | 'broadcastColumns' | 'everyOther';

/** An r×c operand laid out as `layout`, with a padded leading dimension and a leading offset. */
function operand(r: number, c: number, layout: Layout, pad: number, offset: number, f32: boolean, seed: number): StridedMatrix {
  const [rowStride, colStride] = {
    rowMajor: [c + pad, 1],
    columnMajor: [1, r + pad],
    broadcastRows: [0, 1], // every row is the same row
    broadcastColumns: [1, 0],
    everyOther: [2 * (c + pad), 2], // neither direction contiguous
  }[layout];
  const length = offset + (r - 1) * rowStride + (c - 1) * colStride + 1;
  const values = randomValues(seed, length);
  const data: TypedArray = f32 ? Float32Array.from(values) : Float64Array.from(values);
  return { data, offset, rowStride, colStride };
}

const layoutArb = fc.constantFrom<Layout>('rowMajor', 'columnMajor', 'broadcastRows', 'broadcastColumns', 'everyOther');
const sizeArb = fc.oneof(fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 70 }));
const problemArb = fc.record({
  m: sizeArb,
  n: sizeArb,
  k: fc.oneof(sizeArb, fc.integer({ min: KC - 2, max: 2 * KC + 3 })), // one k block, or several with a ragged last
  aLayout: layoutArb,
  bLayout: layoutArb,
  pad: fc.integer({ min: 0, max: 3 }),
  offset: fc.integer({ min: 0, max: 5 }),
  f32: fc.boolean(),
  cPad: fc.integer({ min: 0, max: 3 }),
  seed: fc.integer(),
});

type Problem = typeof problemArb extends fc.Arbitrary<infer T> ? T : never;

/** C (with random initial values, a row stride beyond n and an offset) after one gemmAccumulate with `kernel`. */
function run(kernel: BlockKernel, p: Problem): Float64Array {
  const a = operand(p.m, p.k, p.aLayout, p.pad, p.offset, p.f32, p.seed);
  const b = operand(p.k, p.n, p.bLayout, p.pad, p.offset, p.f32, p.seed + 1);
  const ldc = p.n + p.cPad;
  const c = Float64Array.from(randomValues(p.seed + 2, p.cPad + p.m * ldc));
  gemmAccumulateWith(kernel, p.m, p.n, p.k, a, b, c, p.cPad, ldc);
  return c;
}

const sameBits = (x: Float64Array, y: Float64Array) => x.length === y.length && x.every((v, i) => Object.is(v, y[i]));

describe('the WebAssembly block kernel', () => {
  // Small blocks cross the MC and NC block edges on small problems; odd tiles leave ragged panels.
  const tilings: [string, WasmTiling][] = [
    ['the default tiling', defaultTiling],
    ['6×4 tiles in 12×8 blocks', { rows: 6, vectorsPerRow: 2, mc: 12, nc: 8 }],
    ['2×8 tiles in 6×16 blocks', { rows: 2, vectorsPerRow: 4, mc: 6, nc: 16 }],
    ['1×2 tiles in 3×6 blocks', { rows: 1, vectorsPerRow: 1, mc: 3, nc: 6 }],
  ];

  test.each(tilings)('gives the reference kernel\'s doubles, bit for bit: %s', (_, tiling) => {
    const wasm = createWasmBlockKernel(tiling);
    expect(wasm).not.toBeNull();
    fc.assert(fc.property(problemArb, (p) => sameBits(run(wasm!, p), run(referenceBlockKernel, p))), { numRuns: 60 });
  });

  test('the answer is A·B to float64 accuracy (so bit-identical is not identically wrong)', () => {
    const p = { m: 13, n: 11, k: 300, aLayout: 'columnMajor', bLayout: 'rowMajor', pad: 1, offset: 2, f32: true, cPad: 0, seed: 7 } as const;
    const a = operand(p.m, p.k, p.aLayout, p.pad, p.offset, p.f32, p.seed);
    const b = operand(p.k, p.n, p.bLayout, p.pad, p.offset, p.f32, p.seed + 1);
    const c = new Float64Array(p.m * p.n);
    gemmAccumulateWith(createWasmBlockKernel()!, p.m, p.n, p.k, a, b, c, 0, p.n);
    for (let i = 0; i < p.m; i++) {
      for (let j = 0; j < p.n; j++) {
        let sum = 0;
        for (let q = 0; q < p.k; q++) sum += a.data[a.offset + i * a.rowStride + q * a.colStride]! * b.data[b.offset + q * b.rowStride + j * b.colStride]!;
        expect(c[i * p.n + j]).toBeCloseTo(sum, 10);
      }
    }
  });

  test('its memory grows for a bigger problem after a smaller one, and stays right', () => {
    const wasm = createWasmBlockKernel()!;
    const small = { m: 3, n: 5, k: 2, aLayout: 'rowMajor', bLayout: 'rowMajor', pad: 0, offset: 0, f32: false, cPad: 0, seed: 1 } as const;
    const large = { ...small, m: 150, n: 600, k: 270, seed: 2 };
    for (const p of [small, large, small]) expect(sameBits(run(wasm, p), run(referenceBlockKernel, p))).toBe(true);
  });
});

describe('the engine under CPU_GEMM=js and CPU_GEMM=wasm', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
    vi.resetModules();
  });

  /** A fresh copy of the engine, its GEMM kernel chosen by CPU_GEMM when it loads. */
  async function engineWith(kernel: string) {
    vi.resetModules();
    vi.stubEnv('CPU_GEMM', kernel);
    return import('../../engine/index.js');
  }

  /** matmul of a transposed and a broadcast operand, conv2d, and conv2d's gradients, all as raw bytes. */
  async function results(kernel: 'js' | 'wasm'): Promise<number[][]> {
    const E = await engineWith(kernel);
    E.manualSeed(3);
    const a = E.transpose(E.randn([2, 300, 37]));
    const b = E.randn([300, 45]);
    const x = E.randn([2, 6, 11, 9], { dtype: 'float64', requiresGrad: true });
    const w = E.randn([10, 3, 3, 3], { dtype: 'float64', requiresGrad: true });
    const y = E.conv2d(x, w, null, { padding: 1, stride: [2, 1], groups: 2 });
    const [gx, gw] = E.grad(E.sum(E.mul(y, y)), [x, w]);
    return [E.matmul(a, b), y, gx!, gw!].map((t) => Array.from(t.toArraySync()));
  }

  test('matmul, conv2d and its gradients give the same bits', async () => {
    const js = await results('js');
    const wasm = await results('wasm');
    expect(wasm).toHaveLength(js.length);
    wasm.forEach((r, i) => expect(sameBits(Float64Array.from(r), Float64Array.from(js[i]!))).toBe(true));
  });

  test('an unknown CPU_GEMM is an error that names the choices', async () => {
    await expect(engineWith('blas')).rejects.toThrow(/CPU_GEMM must be 'js' or 'wasm', not 'blas'/);
  });
});
