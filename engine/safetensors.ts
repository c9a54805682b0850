import { open, rename, unlink } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';
import type { FileHandle } from 'node:fs/promises';
import type { Backend } from './backend.js';
import type { TypedArray } from './dtype.js';
import { EngineError } from './errors.js';
import { Tensor, resolveBackend } from './tensor.js';

/*
 * The safetensors format (https://github.com/huggingface/safetensors): an 8-byte little-endian header length N,
 * N bytes of JSON `{ "__metadata__": {str: str}, name: {dtype, shape, data_offsets: [begin, end]} }` (offsets
 * relative to the data section that follows), then the raw little-endian tensor bytes.
 *
 * Conversions on load, to the engine's dtypes (every one is exact or refused):
 *   F32 → float32, F64 → float64, I32 → int32 (bit for bit);
 *   F16, BF16 → float32 (every half and bfloat16 value, NaN and ±Inf included, is a float32 value);
 *   U8 → int32 (0…255);
 *   I64 → int32 when every element lies in [−2³¹, 2³¹ − 1]; otherwise an error naming the key and element.
 *
 * Conversions on save (default: float32 → F32, float64 → F64, int32 → I32; `storeAs` picks another):
 *   float tensors → F32, F64, F16 or BF16. F16/BF16 round to nearest, ties to even, after a first rounding
 *   to float32 (as PyTorch's `.to(torch.half)` does from float64); too-large values become ±Inf.
 *   int32 tensors → I32, I64 (sign-extended) or U8 (every element must lie in 0…255).
 *   Float ↔ integer conversions are refused: cast explicitly first.
 *
 * A malformed file gets a SafetensorsError naming the file and, where one is involved, the key. Everything in the
 * header is checked before any tensor is allocated, so a corrupt length or shape cannot cause a huge allocation.
 */

export type SafetensorsDType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'U8';

const BYTES: Record<SafetensorsDType, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, U8: 1 };

/** The safetensors reference implementation's cap on the header (it guards against absurd lengths). */
const MAX_HEADER_BYTES = 100_000_000;

export class SafetensorsError extends EngineError {
  override name = 'SafetensorsError';
  constructor(readonly file: string, readonly detail: string, readonly key?: string) {
    super(`safetensors ${file}${key === undefined ? '' : `, tensor '${key}'`}: ${detail}`);
  }
}

export interface SafetensorsEntry {
  name: string;
  dtype: SafetensorsDType;
  shape: number[];
  /** Byte range within the data section. */
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  metadata: Record<string, string>;
  /** In data-section order. */
  entries: SafetensorsEntry[];
  /** Byte position of the data section from the start of the file. */
  dataStart: number;
}

export interface SafetensorsContents {
  tensors: Map<string, Tensor>;
  metadata: Record<string, string>;
}

export interface LoadOptions {
  /** Where the tensors are created (default: the current backend). */
  backend?: string | Backend;
}

/* ---------------------------------------------------------------- reading */

function isLittleEndianHost(): boolean {
  return new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
}

function checkHost(file: string): void {
  if (!isLittleEndianHost()) throw new SafetensorsError(file, 'this reader needs a little-endian host');
}

/** The header length from the first 8 bytes, checked against the file size before anything is allocated. */
function headerLength(file: string, first8: Uint8Array, fileSize: number): number {
  if (fileSize < 8) throw new SafetensorsError(file, `file has ${fileSize} bytes, too short for the 8-byte header length`);
  const n = new DataView(first8.buffer, first8.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(fileSize - 8)) throw new SafetensorsError(file, `header length ${n} runs past the end of the file (${fileSize} bytes)`);
  if (n > BigInt(MAX_HEADER_BYTES)) throw new SafetensorsError(file, `header length ${n} exceeds the limit of ${MAX_HEADER_BYTES} bytes`);
  return Number(n);
}

/** Parses and validates the JSON header; `dataLength` is the size of the data section. */
function parseHeader(file: string, headerBytes: Uint8Array, dataLength: number): Omit<SafetensorsHeader, 'dataStart'> {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(headerBytes);
  } catch {
    throw new SafetensorsError(file, 'header is not valid UTF-8');
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new SafetensorsError(file, `header is not valid JSON (${(e as Error).message})`);
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) throw new SafetensorsError(file, 'header is not a JSON object');

  const metadata: [string, string][] = [];
  const entries: SafetensorsEntry[] = [];
  for (const [name, info] of Object.entries(json)) {
    if (name === '__metadata__') {
      if (info === null || typeof info !== 'object' || Array.isArray(info)) throw new SafetensorsError(file, '__metadata__ is not an object of strings');
      for (const [k, v] of Object.entries(info)) {
        if (typeof v !== 'string') throw new SafetensorsError(file, `__metadata__ value of '${k}' is not a string`);
        metadata.push([k, v]);
      }
      continue;
    }
    entries.push(parseEntry(file, name, info, dataLength));
  }
  checkCoverage(file, entries, dataLength);
  // fromEntries defines own properties, so even a key named "__proto__" stays plain data.
  return { metadata: Object.fromEntries(metadata), entries };
}

function isNonNegativeInteger(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function parseEntry(file: string, name: string, info: unknown, dataLength: number): SafetensorsEntry {
  const fail = (detail: string) => new SafetensorsError(file, detail, name);
  if (info === null || typeof info !== 'object' || Array.isArray(info)) throw fail('header entry is not an object');
  const { dtype, shape, data_offsets: offsets } = info as Record<string, unknown>;
  if (typeof dtype !== 'string' || !Object.hasOwn(BYTES, dtype)) {
    throw fail(`unsupported dtype ${JSON.stringify(dtype)} (supported: ${Object.keys(BYTES).join(', ')})`);
  }
  if (!Array.isArray(shape) || !shape.every(isNonNegativeInteger)) throw fail(`shape ${JSON.stringify(shape)} is not a list of non-negative integers`);
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isNonNegativeInteger)) {
    throw fail(`data_offsets ${JSON.stringify(offsets)} is not a pair of non-negative integers`);
  }
  const [begin, end] = offsets as [number, number];
  if (begin > end) throw fail(`data_offsets [${begin}, ${end}] end before they begin`);
  if (end > dataLength) throw fail(`data_offsets [${begin}, ${end}] run past the data section (${dataLength} bytes)`);
  const bytes = byteSize(shape as number[], BYTES[dtype as SafetensorsDType]);
  if (bytes !== end - begin) {
    throw fail(`shape ${JSON.stringify(shape)} of ${dtype} needs ${bytes ?? 'more than the file holds in'} bytes, data_offsets span ${end - begin}`);
  }
  return { name, dtype: dtype as SafetensorsDType, shape: shape as number[], begin, end };
}

/** Bytes of a tensor, or undefined when the count is beyond any real file (so it cannot overflow). */
function byteSize(shape: readonly number[], elementBytes: number): number | undefined {
  if (shape.includes(0)) return 0;
  let n = elementBytes;
  for (const d of shape) {
    n *= d;
    if (n > Number.MAX_SAFE_INTEGER) return undefined;
  }
  return n;
}

/** The tensors must tile the data section exactly: no gap, no overlap, nothing left over. */
function checkCoverage(file: string, entries: SafetensorsEntry[], dataLength: number): void {
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let position = 0;
  for (const e of entries) {
    if (e.begin < position) throw new SafetensorsError(file, `data_offsets [${e.begin}, ${e.end}] overlap the previous tensor (which ends at ${position})`, e.name);
    if (e.begin > position) throw new SafetensorsError(file, `data_offsets [${e.begin}, ${e.end}] leave bytes ${position}..${e.begin} of the data section unused`, e.name);
    position = e.end;
  }
  if (position !== dataLength) throw new SafetensorsError(file, `the tensors cover ${position} bytes but the data section has ${dataLength}`);
}

/** Reinterprets little-endian bytes of one tensor as the engine's typed array, converting as documented above. */
function decode(file: string, entry: SafetensorsEntry, bytes: Uint8Array): TypedArray {
  // A fresh copy is aligned for every element size, whatever the tensor's offset in the file. (Not `slice()`:
  // on a Node Buffer that is a view into a shared pool.)
  const buffer = new Uint8Array(bytes).buffer;
  switch (entry.dtype) {
    case 'F32': return new Float32Array(buffer);
    case 'F64': return new Float64Array(buffer);
    case 'I32': return new Int32Array(buffer);
    case 'U8': return Int32Array.from(new Uint8Array(buffer));
    case 'F16': return Float32Array.from(new Uint16Array(buffer), halfToNumber);
    case 'BF16': {
      const widened = new Uint32Array(buffer.byteLength / 2);
      new Uint16Array(buffer).forEach((h, i) => (widened[i] = h << 16));
      return new Float32Array(widened.buffer);
    }
    case 'I64': {
      const wide = new BigInt64Array(buffer);
      const out = new Int32Array(wide.length);
      for (let i = 0; i < wide.length; i++) {
        const v = wide[i]!;
        if (v < -2147483648n || v > 2147483647n) throw new SafetensorsError(file, `I64 element ${i} = ${v} does not fit in int32`, entry.name);
        out[i] = Number(v);
      }
      return out;
    }
  }
}

/** IEEE binary16 bits to a number (exact). */
export function halfToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const mantissa = h & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 31) return mantissa === 0 ? sign * Infinity : NaN;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

function makeTensor(backend: Backend, entry: SafetensorsEntry, values: TypedArray): Tensor {
  return new Tensor(backend.upload(values), entry.shape);
}

/** Disposes what was already created when a later tensor fails, so a failed load leaves nothing behind. */
function disposeAll(tensors: Map<string, Tensor>): void {
  for (const t of tensors.values()) t.dispose();
}

/** Reads a whole safetensors file held in memory. `name` is used in error messages. */
export function parseSafetensors(bytes: Uint8Array, opts: LoadOptions & { name?: string } = {}): SafetensorsContents {
  const file = opts.name ?? '<buffer>';
  checkHost(file);
  const n = headerLength(file, bytes.subarray(0, 8), bytes.length);
  const dataStart = 8 + n;
  const { metadata, entries } = parseHeader(file, bytes.subarray(8, dataStart), bytes.length - dataStart);
  const backend = resolveBackend(opts.backend);
  const tensors = new Map<string, Tensor>();
  try {
    for (const e of entries) {
      tensors.set(e.name, makeTensor(backend, e, decode(file, e, bytes.subarray(dataStart + e.begin, dataStart + e.end))));
    }
  } catch (err) {
    disposeAll(tensors);
    throw err;
  }
  return { tensors, metadata };
}

async function readExactly(handle: FileHandle, file: string, length: number, position: number): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  let filled = 0;
  while (filled < length) {
    const { bytesRead } = await handle.read(out, filled, length - filled, position + filled);
    if (bytesRead === 0) throw new SafetensorsError(file, `file ended at byte ${position + filled} while reading (was it changed during the load?)`);
    filled += bytesRead;
  }
  return out;
}

async function writeAll(handle: FileHandle, bytes: Uint8Array, position: number): Promise<number> {
  let written = 0;
  while (written < bytes.length) {
    const { bytesWritten } = await handle.write(bytes, written, bytes.length - written, position + written);
    written += bytesWritten;
  }
  return position + written;
}

async function readHeaderFrom(handle: FileHandle, file: string): Promise<SafetensorsHeader> {
  const { size } = await handle.stat();
  const n = headerLength(file, await readExactly(handle, file, Math.min(8, size), 0), size);
  const dataStart = 8 + n;
  return { ...parseHeader(file, await readExactly(handle, file, n, 8), size - dataStart), dataStart };
}

/** The header of a file (names, dtypes, shapes, metadata) without reading any tensor data. */
export async function readSafetensorsHeader(path: string): Promise<SafetensorsHeader> {
  const handle = await open(path, 'r');
  try {
    return await readHeaderFrom(handle, path);
  } finally {
    await handle.close();
  }
}

/**
 * Loads a safetensors file, one tensor at a time: each tensor's bytes are read, converted and uploaded to the
 * backend before the next is read, so the whole file is never held in memory.
 */
export async function loadSafetensors(path: string, opts: LoadOptions = {}): Promise<SafetensorsContents> {
  checkHost(path);
  const backend = resolveBackend(opts.backend);
  const handle = await open(path, 'r');
  const tensors = new Map<string, Tensor>();
  try {
    const { metadata, entries, dataStart } = await readHeaderFrom(handle, path);
    for (const e of entries) {
      const bytes = await readExactly(handle, path, e.end - e.begin, dataStart + e.begin);
      tensors.set(e.name, makeTensor(backend, e, decode(path, e, bytes)));
    }
    return { tensors, metadata };
  } catch (err) {
    disposeAll(tensors);
    throw err;
  } finally {
    await handle.close();
  }
}

/* ---------------------------------------------------------------- writing */

export type TensorMap = ReadonlyMap<string, Tensor> | Readonly<Record<string, Tensor>>;

export interface SaveOptions {
  metadata?: Record<string, string>;
  /** The stored dtype of some tensors, by name (see the conversion rules above). */
  storeAs?: Readonly<Record<string, SafetensorsDType>>;
}

function entriesOf(tensors: TensorMap): [string, Tensor][] {
  return tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
}

function defaultStoredDType(t: Tensor): SafetensorsDType {
  return t.dtype === 'float64' ? 'F64' : t.dtype === 'float32' ? 'F32' : 'I32';
}

const FLOAT_STORED = new Set<SafetensorsDType>(['F64', 'F32', 'F16', 'BF16']);

interface Planned {
  name: string;
  tensor: Tensor;
  dtype: SafetensorsDType;
  bytes: number;
}

/**
 * Checks names and conversions, and orders the tensors the way the reference writer does (larger elements first,
 * then by name), which keeps every tensor aligned to its element size once the header is padded to 8 bytes.
 */
function plan(file: string, tensors: TensorMap, opts: SaveOptions): { planned: Planned[]; header: Uint8Array } {
  const planned: Planned[] = entriesOf(tensors).map(([name, tensor]) => {
    if (name === '' || name === '__metadata__') throw new SafetensorsError(file, 'this name is reserved or empty', name);
    if (!(tensor instanceof Tensor)) throw new SafetensorsError(file, 'value is not a Tensor', name);
    tensor.assertAlive(`safetensors save of '${name}'`);
    const dtype = opts.storeAs?.[name] ?? defaultStoredDType(tensor);
    if (!Object.hasOwn(BYTES, dtype)) throw new SafetensorsError(file, `cannot store as unknown dtype ${JSON.stringify(dtype)}`, name);
    if (FLOAT_STORED.has(dtype) !== (tensor.dtype !== 'int32')) {
      throw new SafetensorsError(file, `a ${tensor.dtype} tensor cannot be stored as ${dtype}; cast it explicitly first`, name);
    }
    return { name, tensor, dtype, bytes: tensor.size * BYTES[dtype] };
  });
  for (const name of Object.keys(opts.storeAs ?? {})) {
    if (!planned.some((p) => p.name === name)) throw new SafetensorsError(file, 'storeAs names a tensor that is not being saved', name);
  }
  planned.sort((a, b) => BYTES[b.dtype] - BYTES[a.dtype] || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));

  const json: Record<string, unknown> = {};
  if (opts.metadata) {
    for (const [k, v] of Object.entries(opts.metadata)) {
      if (typeof v !== 'string') throw new SafetensorsError(file, `metadata value of '${k}' is not a string`);
    }
    json.__metadata__ = opts.metadata;
  }
  let offset = 0;
  for (const p of planned) {
    json[p.name] = { dtype: p.dtype, shape: p.tensor.shape, data_offsets: [offset, offset + p.bytes] };
    offset += p.bytes;
  }
  const text = JSON.stringify(json);
  const encoded = new TextEncoder().encode(text);
  const padded = Math.ceil(encoded.length / 8) * 8;
  const header = new Uint8Array(8 + padded).fill(0x20);
  new DataView(header.buffer).setBigUint64(0, BigInt(padded), true);
  header.set(encoded, 8);
  return { planned, header };
}

/** The bytes of one tensor in its stored dtype. */
async function encode(file: string, p: Planned): Promise<Uint8Array> {
  const values = await p.tensor.toArray();
  const out = (() => {
    switch (p.dtype) {
      case 'F32': return values instanceof Float32Array ? values : Float32Array.from(values);
      case 'F64': return values instanceof Float64Array ? values : Float64Array.from(values);
      case 'I32': return values;
      case 'F16': return Uint16Array.from(values, numberToHalf);
      case 'BF16': return bfloat16Bits(values);
      case 'I64': return BigInt64Array.from(values, (v) => BigInt(v));
      case 'U8': {
        const bad = values.findIndex((v) => v < 0 || v > 255);
        if (bad >= 0) throw new SafetensorsError(file, `element ${bad} = ${values[bad]} does not fit in U8`, p.name);
        return Uint8Array.from(values);
      }
    }
  })();
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

/** Round to nearest, ties to even, of a non-negative number whose fraction is exact. */
function roundHalfEven(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  return d > 0.5 || (d === 0.5 && f % 2 === 1) ? f + 1 : f;
}

/** IEEE binary16 bits of a number: rounded to float32 first (PyTorch's path), then to nearest-even half. */
export function numberToHalf(x: number): number {
  const v = Math.fround(x);
  if (Number.isNaN(v)) return 0x7e00;
  const sign = v < 0 || Object.is(v, -0) ? 0x8000 : 0;
  const a = Math.abs(v);
  if (a === Infinity) return sign | 0x7c00;
  // Below 2^-14 halves are subnormal, multiples of 2^-24 (a count of 1024 is the smallest normal, 0x0400).
  if (a < 2 ** -14) return sign | roundHalfEven(a * 2 ** 24);
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;
  else if (2 ** (e + 1) <= a) e++;
  let m = roundHalfEven(a * 2 ** (10 - e));
  if (m === 2048) {
    m = 1024;
    e++;
  }
  if (e > 15) return sign | 0x7c00;
  return sign | ((e + 15) << 10) | (m - 1024);
}

/** bfloat16 bits of float values: the top half of the float32 bits, rounded to nearest even. */
function bfloat16Bits(values: TypedArray): Uint16Array {
  const f32 = values instanceof Float32Array ? values : Float32Array.from(values);
  const bits = new Uint32Array(f32.buffer, f32.byteOffset, f32.length);
  return Uint16Array.from(bits, (b) => {
    if ((b & 0x7fffffff) > 0x7f800000) return ((b >>> 16) & 0x8000) | 0x7fc0; // NaN stays a (quiet) NaN
    return (b + 0x7fff + ((b >>> 16) & 1)) >>> 16;
  });
}

/** The whole file in memory (for small files and tests; `saveSafetensors` streams). */
export async function serializeSafetensors(tensors: TensorMap, opts: SaveOptions = {}): Promise<Uint8Array> {
  checkHost('<buffer>');
  const { planned, header } = plan('<buffer>', tensors, opts);
  const out = new Uint8Array(header.length + planned.reduce((a, p) => a + p.bytes, 0));
  out.set(header, 0);
  let position = header.length;
  for (const p of planned) {
    out.set(await encode('<buffer>', p), position);
    position += p.bytes;
  }
  return out;
}

let tempCounter = 0;

/**
 * Writes a safetensors file atomically: into a temporary file beside it, flushed to disk, then renamed over
 * `path` (and the directory flushed), so a crash leaves either the old file or the new one, never half of one.
 * Tensors are read back from the backend one at a time.
 */
export async function saveSafetensors(path: string, tensors: TensorMap, opts: SaveOptions = {}): Promise<void> {
  checkHost(path);
  const { planned, header } = plan(path, tensors, opts);
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}.${++tempCounter}.tmp`);
  const handle = await open(temp, 'w');
  try {
    let position = await writeAll(handle, header, 0);
    for (const p of planned) position = await writeAll(handle, await encode(path, p), position);
    await handle.sync();
  } catch (err) {
    await handle.close();
    await unlink(temp).catch(() => undefined);
    throw err;
  }
  await handle.close();
  await rename(temp, path);
  await syncDirectory(dirname(path));
}

/** Makes a rename durable. Windows cannot open a directory for flushing; there the rename is left to the OS. */
async function syncDirectory(dir: string): Promise<void> {
  if (process.platform === 'win32') return;
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
