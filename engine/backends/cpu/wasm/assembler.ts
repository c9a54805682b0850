/*
 * A tiny WebAssembly assembler: just enough of the binary format (spec §5) to emit one module whose functions
 * read and write an imported memory. Code is written as arrays of bytes built by the `op` helpers below, in the
 * order a stack machine executes them; `wasmModule` wraps the functions in the sections the engine needs.
 */

/** A value type's byte in the binary format. */
export const valueType = { i32: 0x7f, i64: 0x7e, f32: 0x7d, f64: 0x7c, v128: 0x7b } as const;
export type ValueType = (typeof valueType)[keyof typeof valueType];

/** Unsigned LEB128: seven bits per byte, low bits first, the high bit set on every byte but the last. */
export function unsignedLeb128(value: number): number[] {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) throw new RangeError(`unsignedLeb128: ${value} is not a u32`);
  const bytes: number[] = [];
  do {
    let byte = value & 0x7f;
    value = Math.floor(value / 128);
    if (value !== 0) byte |= 0x80;
    bytes.push(byte);
  } while (value !== 0);
  return bytes;
}

/** Signed LEB128: like the unsigned form, but it stops once the remaining bits are all copies of the sign bit. */
export function signedLeb128(value: number): number[] {
  if (!Number.isInteger(value) || value < -0x80000000 || value > 0x7fffffff) throw new RangeError(`signedLeb128: ${value} is not an i32`);
  const bytes: number[] = [];
  for (;;) {
    const byte = value & 0x7f;
    value >>= 7; // arithmetic shift: keeps the sign
    const signBitOfByte = (byte & 0x40) !== 0;
    if ((value === 0 && !signBitOfByte) || (value === -1 && signBitOfByte)) {
      bytes.push(byte);
      return bytes;
    }
    bytes.push(byte | 0x80);
  }
}

const utf8 = (text: string): number[] => {
  const bytes = new TextEncoder().encode(text);
  return [...unsignedLeb128(bytes.length), ...bytes];
};
/** A vector: its length, then its items. */
const vector = (items: number[][]): number[] => [...unsignedLeb128(items.length), ...items.flat()];
/** A memory access's immediate: log2 of the alignment it promises, then a constant byte offset. */
const memarg = (alignLog2: number, offset: number): number[] => [...unsignedLeb128(alignLog2), ...unsignedLeb128(offset)];
/** Instructions after the 0xfd prefix are numbered by a LEB128 u32, so those from 128 on take two bytes. */
const simd = (opcode: number, ...immediates: number[]): number[] => [0xfd, ...unsignedLeb128(opcode), ...immediates];

/** The instructions the engine's kernels use, each returning its encoding. */
export const op = {
  /** A loop that leaves nothing on the stack; a branch to it goes back to its start. */
  loop: () => [0x03, 0x40],
  end: () => [0x0b],
  /** Branch, if the popped i32 is not zero, to the `depth`-th enclosing label (0: the innermost). */
  brIf: (depth: number) => [0x0d, ...unsignedLeb128(depth)],
  localGet: (index: number) => [0x20, ...unsignedLeb128(index)],
  localSet: (index: number) => [0x21, ...unsignedLeb128(index)],
  i32Const: (value: number) => [0x41, ...signedLeb128(value)],
  i32Ne: () => [0x47],
  i32Add: () => [0x6a],
  i32Mul: () => [0x6c],
  /** Loads and stores take a byte address from the stack and add `offset`; they promise alignment to their size. */
  f64Load: (offset = 0) => [0x2b, ...memarg(3, offset)],
  f64Store: (offset = 0) => [0x39, ...memarg(3, offset)],
  v128Load: (offset = 0) => simd(0x00, ...memarg(4, offset)),
  /** Loads one f64 and copies it into both lanes. */
  v128Load64Splat: (offset = 0) => simd(0x0a, ...memarg(3, offset)),
  v128Store: (offset = 0) => simd(0x0b, ...memarg(4, offset)),
  f64x2Splat: () => simd(0x14),
  f64x2Add: () => simd(0xf0),
  f64x2Mul: () => simd(0xf2),
  f64Const: (value: number) => {
    const bytes = new Uint8Array(8);
    new DataView(bytes.buffer).setFloat64(0, value, true);
    return [0x44, ...bytes];
  },
} as const;

/** One exported function: its signature, its locals beyond the parameters, and its code (without the final `end`). */
export interface WasmFunction {
  readonly name: string;
  readonly params: readonly ValueType[];
  readonly results: readonly ValueType[];
  readonly locals: readonly ValueType[];
  readonly code: readonly number[];
}

/** Where the module's memory comes from: `importModule.importName`, at least `minPages` pages of 64 KiB. */
export interface MemoryImport {
  readonly importModule: string;
  readonly importName: string;
  readonly minPages: number;
}

const section = (id: number, content: number[]): number[] => [id, ...unsignedLeb128(content.length), ...content];
const sectionId = { type: 1, import: 2, function: 3, export: 7, code: 10 } as const;
const functionType = 0x60;
const externalKind = { function: 0x00, memory: 0x02 } as const;

/** Locals are declared as runs of one type, so consecutive equal types share one (count, type) entry. */
function localRuns(locals: readonly ValueType[]): number[][] {
  const runs: [number, ValueType][] = [];
  for (const type of locals) {
    const last = runs[runs.length - 1];
    if (last && last[1] === type) last[0]++;
    else runs.push([1, type]);
  }
  return runs.map(([count, type]) => [...unsignedLeb128(count), type]);
}

/**
 * The bytes of a module that imports one memory and exports every function by its name. The sections must come
 * in increasing id order (type, import, function, export, code), and the function section (signatures) is
 * separate from the code section (bodies) so that a streaming compiler knows every signature before any body.
 * Each function gets its own type entry: duplicates are legal and the module stays simple.
 */
export function wasmModule(memory: MemoryImport, functions: readonly WasmFunction[]): Uint8Array<ArrayBuffer> {
  const magic = [0x00, 0x61, 0x73, 0x6d];
  const version = [0x01, 0x00, 0x00, 0x00];
  const types = functions.map((f) => [functionType, ...vector(f.params.map((t) => [t])), ...vector(f.results.map((t) => [t]))]);
  const memoryLimitsMinOnly = 0x00;
  const memoryImport = [...utf8(memory.importModule), ...utf8(memory.importName), externalKind.memory, memoryLimitsMinOnly, ...unsignedLeb128(memory.minPages)];
  const typeIndices = functions.map((_, index) => unsignedLeb128(index));
  const exports = functions.map((f, index) => [...utf8(f.name), externalKind.function, ...unsignedLeb128(index)]);
  const bodies = functions.map((f) => {
    const body = [...vector(localRuns(f.locals)), ...f.code, ...op.end()];
    return [...unsignedLeb128(body.length), ...body];
  });
  return new Uint8Array([
    ...magic,
    ...version,
    ...section(sectionId.type, vector(types)),
    ...section(sectionId.import, vector([memoryImport])),
    ...section(sectionId.function, vector(typeIndices)),
    ...section(sectionId.export, vector(exports)),
    ...section(sectionId.code, vector(bodies)),
  ]);
}
