import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type Tensor, fromArray } from '../../engine/index.js';
import {
  SafetensorsError,
  halfToNumber,
  loadSafetensors,
  numberToHalf,
  parseSafetensors,
  readSafetensorsHeader,
  saveSafetensors,
  serializeSafetensors,
} from '../../engine/safetensors.js';

/** A safetensors file from a header object and a data section, as any writer would lay it out. */
function craft(header: unknown, data: Uint8Array, headerText = JSON.stringify(header)): Uint8Array {
  const json = new TextEncoder().encode(headerText);
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

const bytesOf = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
const values = (t: Tensor) => Array.from(t.toArraySync());

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'safetensors-test-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('reading', () => {
  test('every supported dtype converts to the engine dtype as documented', () => {
    const f16 = new Uint16Array([0x3c00, 0xc000, 0x7bff, 0x0001, 0x7c00, 0x8000]); // 1, -2, 65504, 2^-24, Inf, -0
    const bf16 = new Uint16Array([0x3f80, 0x4049, 0xff80]); // 1, 3.140625, -Inf
    const i64 = new BigInt64Array([-2147483648n, 2147483647n, 0n]);
    const u8 = new Uint8Array([0, 7, 255]);
    const f64 = new Float64Array([Math.PI]);
    const i32 = new Int32Array([-5]);
    const f32 = new Float32Array([0.5, -1.25]);
    const parts: [string, string, number[], Uint8Array][] = [
      ['f64', 'F64', [], bytesOf(f64)],
      ['i64', 'I64', [3], bytesOf(i64)],
      ['f32', 'F32', [2, 1], bytesOf(f32)],
      ['i32', 'I32', [1], bytesOf(i32)],
      ['f16', 'F16', [2, 3], bytesOf(f16)],
      ['bf16', 'BF16', [3], bytesOf(bf16)],
      ['u8', 'U8', [3], u8],
    ];
    const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
    let offset = 0;
    for (const [name, dtype, shape, bytes] of parts) {
      header[name] = { dtype, shape, data_offsets: [offset, offset + bytes.length] };
      offset += bytes.length;
    }
    const data = new Uint8Array(offset);
    offset = 0;
    for (const [, , , bytes] of parts) {
      data.set(bytes, offset);
      offset += bytes.length;
    }
    const { tensors, metadata } = parseSafetensors(craft(header, data));
    expect(metadata).toEqual({ format: 'pt' });
    const get = (k: string) => tensors.get(k)!;
    expect([get('f64').dtype, get('f64').shape]).toEqual(['float64', []]);
    expect(values(get('f64'))).toEqual([Math.PI]);
    expect([get('f32').dtype, get('f32').shape, values(get('f32'))]).toEqual(['float32', [2, 1], [0.5, -1.25]]);
    expect([get('i32').dtype, values(get('i32'))]).toEqual(['int32', [-5]]);
    expect([get('f16').dtype, values(get('f16'))]).toEqual(['float32', [1, -2, 65504, 2 ** -24, Infinity, -0]]);
    expect(Object.is(values(get('f16'))[5], -0)).toBe(true);
    expect([get('bf16').dtype, values(get('bf16'))]).toEqual(['float32', [1, 3.140625, -Infinity]]);
    expect([get('i64').dtype, values(get('i64'))]).toEqual(['int32', [-2147483648, 2147483647, 0]]);
    expect([get('u8').dtype, values(get('u8'))]).toEqual(['int32', [0, 7, 255]]);
  });

  test('I64 outside the int32 range is an error naming the key and the element', () => {
    const data = bytesOf(new BigInt64Array([1n, 2147483648n]));
    const file = craft({ labels: { dtype: 'I64', shape: [2], data_offsets: [0, 16] } }, data);
    expect(() => parseSafetensors(file, { name: 'labels.safetensors' })).toThrow(/labels\.safetensors, tensor 'labels': I64 element 1 = 2147483648 does not fit in int32/);
  });

  const fixture = new URL('../../../shared/fixtures/transport.safetensors', import.meta.url).pathname;
  test.skipIf(!existsSync(fixture))('reads a file written by the Python safetensors library (the official fixtures)', async () => {
    const path = fixture;
    const { tensors } = await loadSafetensors(path);
    expect(tensors.get('train.input.y')!.dtype).toBe('int32'); // stored I64
    expect(tensors.get('sample.euler.expected.trajectory')!.shape).toEqual([10, 4, 8, 8, 8]);
    expect(tensors.get('train.expected.total_loss')!.dtype).toBe('float64');
    const grid = values(tensors.get('sample.euler_plain.expected.time_grid')!);
    expect(grid[0]).toBe(0);
    expect(grid[9]).toBe(1);
  });
});

describe('half and bfloat16 conversions', () => {
  test('every binary16 bit pattern survives decode then encode (NaNs become the canonical NaN)', () => {
    for (let h = 0; h < 0x10000; h++) {
      const x = halfToNumber(h);
      const back = numberToHalf(x);
      if (Number.isNaN(x)) expect(back).toBe(0x7e00);
      else if (back !== h) expect.fail(`half 0x${h.toString(16)} → ${x} → 0x${back.toString(16)}`);
    }
  });

  test('encoding rounds to nearest, ties to even, and overflows to infinity', () => {
    expect(numberToHalf(0.1)).toBe(0x2e66);
    expect(numberToHalf(1 / 3)).toBe(0x3555);
    expect(numberToHalf(1 + 2 ** -11)).toBe(0x3c00); // tie between 1 and 1 + 2^-10: even mantissa wins
    expect(numberToHalf(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(numberToHalf(65519)).toBe(0x7bff);
    expect(numberToHalf(65520)).toBe(0x7c00);
    expect(numberToHalf(-1e9)).toBe(0xfc00);
    expect(numberToHalf(2 ** -25)).toBe(0x0000); // tie between 0 and the smallest subnormal
    expect(numberToHalf(3 * 2 ** -25)).toBe(0x0002);
    expect(numberToHalf(-0)).toBe(0x8000);
  });

  test('float tensors round-trip through F16 and BF16 to the rounded values', async () => {
    const x = fromArray([1, Math.PI, -0.1, 70000, 1.00390625, 1.01171875], [6]);
    const file = parseSafetensors(await serializeSafetensors({ h: x, b: x }, { storeAs: { h: 'F16', b: 'BF16' } }));
    expect(values(file.tensors.get('h')!)).toEqual([1, 3.140625, -0.0999755859375, Infinity, 1.00390625, 1.01171875]);
    // bfloat16 keeps 8 significant bits: 1 + 2^-8 is a tie that goes to 1 (even), 1 + 3·2^-8 goes up to 1 + 2^-6.
    expect(values(file.tensors.get('b')!)).toEqual([1, 3.140625, -0.10009765625, 70144, 1, 1.015625]);
  });
});

describe('writing', () => {
  test('round trip of every stored dtype through a file, with metadata', async () => {
    const f = fromArray([0.5, -3, 1e-3, 12345.678], [2, 2]);
    const d = fromArray([Math.E, -1e-300], [2], { dtype: 'float64' });
    const i = fromArray([-7, 0, 255, 2 ** 31 - 1], [4], { dtype: 'int32' });
    const small = fromArray([0, 1, 255], [3], { dtype: 'int32' });
    const empty = fromArray([], [0, 3]);
    const path = join(dir, 'all.safetensors');
    await saveSafetensors(path, new Map([['f', f], ['d', d], ['i', i], ['i64', i], ['u8', small], ['f64', f], ['empty', empty]]), {
      metadata: { step: '12' },
      storeAs: { i64: 'I64', u8: 'U8', f64: 'F64' },
    });
    const header = await readSafetensorsHeader(path);
    expect(Object.fromEntries(header.entries.map((e) => [e.name, e.dtype]))).toEqual({ f: 'F32', d: 'F64', i: 'I32', i64: 'I64', u8: 'U8', f64: 'F64', empty: 'F32' });
    // Larger elements first, so every tensor is aligned to its element size (the header is padded to 8 bytes).
    expect(header.dataStart % 8).toBe(0);
    for (const e of header.entries) expect(e.begin % { F64: 8, I64: 8, F32: 4, I32: 4, U8: 1, F16: 2, BF16: 2 }[e.dtype]).toBe(0);
    const { tensors, metadata } = await loadSafetensors(path);
    expect(metadata).toEqual({ step: '12' });
    expect(values(tensors.get('f')!)).toEqual(values(f));
    expect(tensors.get('f')!.shape).toEqual([2, 2]);
    expect(values(tensors.get('d')!)).toEqual([Math.E, -1e-300]);
    expect(values(tensors.get('i')!)).toEqual(values(i));
    expect(values(tensors.get('i64')!)).toEqual(values(i));
    expect(values(tensors.get('u8')!)).toEqual([0, 1, 255]);
    expect(tensors.get('f64')!.dtype).toBe('float64');
    expect(values(tensors.get('f64')!)).toEqual(values(f));
    expect(tensors.get('empty')!.shape).toEqual([0, 3]);
  });

  test('parses from a Node Buffer that is a slice of a larger pool', async () => {
    const bytes = await serializeSafetensors({ a: fromArray([1.5, -2]), b: fromArray([7], [1], { dtype: 'int32' }) });
    const pooled = Buffer.from(bytes); // small Buffers share Node's allocation pool, at some offset
    expect(pooled.buffer.byteLength).toBeGreaterThan(pooled.length);
    const { tensors } = parseSafetensors(pooled);
    expect([values(tensors.get('a')!), values(tensors.get('b')!)]).toEqual([[1.5, -2], [7]]);
  });

  test('a strided view is saved by value', async () => {
    const x = fromArray([1, 2, 3, 4, 5, 6], [2, 3]).transpose(0, 1);
    const back = parseSafetensors(await serializeSafetensors({ x }));
    expect(values(back.tensors.get('x')!)).toEqual([1, 4, 2, 5, 3, 6]);
  });

  test('refuses conversions that lose information silently', async () => {
    const i = fromArray([1, 300], [2], { dtype: 'int32' });
    const f = fromArray([1.5], [1]);
    await expect(serializeSafetensors({ i }, { storeAs: { i: 'U8' } })).rejects.toThrow(/tensor 'i': element 1 = 300 does not fit in U8/);
    await expect(serializeSafetensors({ f }, { storeAs: { f: 'I32' } })).rejects.toThrow(/tensor 'f': a float32 tensor cannot be stored as I32/);
    await expect(serializeSafetensors({ i }, { storeAs: { i: 'F32' } })).rejects.toThrow(/cannot be stored as F32/);
    await expect(serializeSafetensors({ f }, { storeAs: { g: 'F16' } })).rejects.toThrow(/tensor 'g': storeAs names a tensor/);
    await expect(serializeSafetensors({ __metadata__: f })).rejects.toThrow(/reserved/);
  });

  test('the write is atomic: a failed save leaves the old file intact and no temporary file', async () => {
    const path = join(dir, 'atomic.safetensors');
    await saveSafetensors(path, { a: fromArray([1, 2]) });
    const before = await readFile(path);
    await expect(saveSafetensors(path, { a: fromArray([1, 2]), bad: fromArray([999], [1], { dtype: 'int32' }) }, { storeAs: { bad: 'U8' } })).rejects.toThrow(SafetensorsError);
    expect(await readFile(path)).toEqual(before);
    expect((await readdir(dir)).filter((f) => f.includes('atomic'))).toEqual(['atomic.safetensors']);
  });
});

describe('malformed files', () => {
  const ok = () => craft({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'I32', shape: [1], data_offsets: [8, 12] } }, new Uint8Array(12));
  const withHeader = (header: unknown) => craft(header, new Uint8Array(12));
  const cases: [string, () => Uint8Array, RegExp][] = [
    ['shorter than the length field', () => new Uint8Array(5), /m\.st: file has 5 bytes, too short/],
    ['header length past the end', () => {
      const f = ok();
      new DataView(f.buffer).setBigUint64(0, 1n << 60n, true);
      return f;
    }, /header length 1152921504606846976 runs past the end of the file/],
    ['bad JSON', () => craft(null, new Uint8Array(0), '{"a": '), /header is not valid JSON/],
    ['not an object', () => craft([1, 2], new Uint8Array(0)), /header is not a JSON object/],
    ['bad UTF-8', () => craft(null, new Uint8Array(0), '{}').map((b, i) => (i === 8 ? 0xff : b)), /not valid UTF-8/],
    ['unknown dtype', () => withHeader({ a: { dtype: 'F8_E4M3', shape: [12], data_offsets: [0, 12] } }), /tensor 'a': unsupported dtype "F8_E4M3"/],
    ['non-integer shape', () => withHeader({ a: { dtype: 'U8', shape: [1.5, 8], data_offsets: [0, 12] } }), /tensor 'a': shape \[1\.5,8\] is not a list of non-negative integers/],
    ['negative shape', () => withHeader({ a: { dtype: 'U8', shape: [-12], data_offsets: [0, 12] } }), /tensor 'a': shape/],
    ['size not matching shape', () => withHeader({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 12] } }), /tensor 'a': shape \[2\] of F32 needs 8 bytes, data_offsets span 12/],
    ['huge shape', () => withHeader({ a: { dtype: 'F64', shape: [2 ** 40, 2 ** 40], data_offsets: [0, 12] } }), /tensor 'a': shape .* needs more than the file holds/],
    ['offsets out of range', () => withHeader({ a: { dtype: 'U8', shape: [16], data_offsets: [0, 16] } }), /tensor 'a': data_offsets \[0, 16\] run past the data section \(12 bytes\)/],
    ['offsets reversed', () => withHeader({ a: { dtype: 'U8', shape: [0], data_offsets: [8, 4] } }), /tensor 'a': data_offsets \[8, 4\] end before they begin/],
    ['offsets overlapping', () => withHeader({ a: { dtype: 'U8', shape: [8], data_offsets: [0, 8] }, b: { dtype: 'U8', shape: [8], data_offsets: [4, 12] } }), /tensor 'b': data_offsets \[4, 12\] overlap/],
    ['offsets leaving a gap', () => withHeader({ a: { dtype: 'U8', shape: [4], data_offsets: [0, 4] }, b: { dtype: 'U8', shape: [4], data_offsets: [8, 12] } }), /tensor 'b': .* leave bytes 4\.\.8 .* unused/],
    ['offsets not covering the data', () => withHeader({ a: { dtype: 'U8', shape: [4], data_offsets: [0, 4] } }), /cover 4 bytes but the data section has 12/],
    ['metadata not strings', () => withHeader({ __metadata__: { n: 1 }, a: { dtype: 'U8', shape: [12], data_offsets: [0, 12] } }), /__metadata__ value of 'n' is not a string/],
    ['entry not an object', () => withHeader({ a: 5 }), /tensor 'a': header entry is not an object/],
    ['offsets missing', () => withHeader({ a: { dtype: 'U8', shape: [12] } }), /tensor 'a': data_offsets undefined/],
  ];
  for (const [what, make, message] of cases) {
    test(what, async () => {
      const bytes = make();
      expect(() => parseSafetensors(bytes, { name: 'm.st' })).toThrow(message);
      const path = join(dir, 'm.st');
      await writeFile(path, bytes);
      const err = await loadSafetensors(path).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SafetensorsError);
      expect((err as Error).message).toMatch(message);
      expect((err as Error).message).toContain(path);
    });
  }

  test('a key named __proto__ is an ordinary tensor name', () => {
    const file = craft(JSON.parse('{"__proto__": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}}'), new Uint8Array([9]), '{"__proto__": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}}');
    expect(values(parseSafetensors(file).tensors.get('__proto__')!)).toEqual([9]);
  });

  test('fuzz: corrupted files either load consistently or fail with a SafetensorsError', async () => {
    const base = await serializeSafetensors(
      {
        w: fromArray([1, 2, 3, 4, 5, 6], [2, 3]),
        d: fromArray([0.25], [], { dtype: 'float64' }),
        n: fromArray([3, -1], [2], { dtype: 'int32' }),
        h: fromArray([0.5, 2]),
        l: fromArray([1, 2], [2], { dtype: 'int32' }),
      },
      { metadata: { k: 'v' }, storeAs: { h: 'F16', l: 'I64' } },
    );
    const headerEnd = 8 + Number(new DataView(base.buffer).getBigUint64(0, true));
    const headerText = new TextDecoder().decode(base.subarray(8, headerEnd));
    const mutation = fc.oneof(
      // random byte flips anywhere (length field, header, data)
      fc.array(fc.tuple(fc.nat(base.length - 1), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 4 }).map((flips) => {
        const b = base.slice();
        for (const [i, x] of flips) b[i]! ^= x;
        return b;
      }),
      // truncation
      fc.nat(base.length - 1).map((n) => base.slice(0, n)),
      // a rewritten length field
      fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }).map((n) => {
        const b = base.slice();
        new DataView(b.buffer).setBigUint64(0, n, true);
        return b;
      }),
      // header edits: a digit, a dtype or a bracket replaced, the JSON re-framed with a correct length
      fc.tuple(fc.nat(headerText.length - 1), fc.constantFrom('0', '9', '"', ']', '[', ',', 'F16', 'I64', 'U8', '-1', '1e9', '2.5', '')).map(([at, text]) => {
        const edited = headerText.slice(0, at) + text + headerText.slice(at + 1);
        return craft(null, base.subarray(headerEnd), edited);
      }),
    );
    fc.assert(
      fc.property(mutation, (bytes) => {
        try {
          const { tensors } = parseSafetensors(bytes, { name: 'fuzz' });
          // A file that loads must be self-consistent: each tensor has as many elements as its shape says.
          for (const t of tensors.values()) expect(t.toArraySync().length).toBe(t.shape.reduce((a, b) => a * b, 1));
        } catch (e) {
          if (!(e instanceof SafetensorsError)) throw e;
          expect(e.message).toMatch(/^safetensors fuzz/);
        }
      }),
      { numRuns: 400 },
    );
  });
});
