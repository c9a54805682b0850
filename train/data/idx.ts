import { readFile } from 'node:fs/promises';
import { DataError } from '../errors.js';

/*
 * The IDX format (LeCun's MNIST files): a 4-byte magic number [0, 0, type, rank], `rank` big-endian uint32 sizes,
 * then the elements in row-major order, big-endian, of the type that the third byte names.
 */

const TYPES = {
  0x08: { name: 'unsigned byte', bytes: 1 },
  0x09: { name: 'signed byte', bytes: 1 },
  0x0b: { name: 'int16', bytes: 2 },
  0x0c: { name: 'int32', bytes: 4 },
  0x0d: { name: 'float32', bytes: 4 },
  0x0e: { name: 'float64', bytes: 8 },
} as const;

type TypeCode = keyof typeof TYPES;

export interface IdxArray {
  shape: number[];
  /** The IDX element type, e.g. 'unsigned byte'. */
  type: string;
  /** The elements in row-major order (unsigned bytes stay bytes; every other type is converted to numbers). */
  data: Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;
}

/** Parses IDX bytes; `file` names the source in errors. Every header field is checked against the byte count. */
export function parseIdx(bytes: Uint8Array, file = '<IDX bytes>'): IdxArray {
  const fail = (detail: string) => new DataError(file, `not a valid IDX file: ${detail}`);
  if (bytes.length < 4) throw fail(`${bytes.length} bytes, too short for the 4-byte magic number`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    throw fail(`magic number 0x${view.getUint32(0).toString(16).padStart(8, '0')} does not start with two zero bytes`);
  }
  const code = bytes[2]!;
  if (!(code in TYPES)) throw fail(`element type 0x${code.toString(16).padStart(2, '0')} is not one of ${Object.keys(TYPES).map((k) => `0x${Number(k).toString(16)}`).join(', ')}`);
  const type = TYPES[code as TypeCode];
  const rank = bytes[3]!;
  if (rank === 0) throw fail('zero dimensions');
  const start = 4 + 4 * rank;
  if (bytes.length < start) throw fail(`the header of ${rank} dimensions needs ${start} bytes, the file has ${bytes.length}`);
  const shape = Array.from({ length: rank }, (_, i) => view.getUint32(4 + 4 * i));
  const count = shape.reduce((a, b) => a * b, 1);
  const expected = start + count * type.bytes;
  if (bytes.length !== expected) {
    throw fail(`dimensions [${shape.join(', ')}] of ${type.name} need ${expected} bytes, the file has ${bytes.length}`);
  }
  return { shape, type: type.name, data: readElements(view, start, count, code as TypeCode) };
}

function readElements(view: DataView, start: number, count: number, code: TypeCode): IdxArray['data'] {
  switch (code) {
    case 0x08:
      return new Uint8Array(view.buffer, view.byteOffset + start, count);
    case 0x09:
      return new Int8Array(view.buffer, view.byteOffset + start, count);
    case 0x0b:
      return Int16Array.from({ length: count }, (_, i) => view.getInt16(start + 2 * i));
    case 0x0c:
      return Int32Array.from({ length: count }, (_, i) => view.getInt32(start + 4 * i));
    case 0x0d:
      return Float32Array.from({ length: count }, (_, i) => view.getFloat32(start + 4 * i));
    case 0x0e:
      return Float64Array.from({ length: count }, (_, i) => view.getFloat64(start + 8 * i));
  }
}

export async function readIdx(file: string): Promise<IdxArray> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(file);
  } catch (e) {
    throw new DataError(file, `cannot read the IDX file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  return parseIdx(bytes, file);
}
