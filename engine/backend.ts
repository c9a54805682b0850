import type { DType, TypedArray } from './dtype.js';
import { EngineError } from './errors.js';

/**
 * The boundary between op definitions and the hardware. An op's definition (shape rule, checks, backward)
 * never changes per backend; a backend only supplies storage and one kernel per op name.
 */
export interface Storage {
  readonly backend: Backend;
  readonly dtype: DType;
  /** Number of elements. */
  readonly length: number;
  /** Tensors sharing this storage (views included). At 0 the backend may recycle it. */
  refs: number;
}

/** What a kernel sees of a tensor: where its elements live and how to step through them. */
export interface View {
  readonly storage: Storage;
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly strides: readonly number[];
  readonly offset: number;
}

/**
 * A kernel reads `inputs` and writes every element of `outputs`, which are freshly allocated and contiguous.
 * Inputs are contiguous unless the op declares `stridedInputs`.
 */
export type Kernel<A = any> = (inputs: View[], outputs: View[], attrs: A) => void;

export interface Backend {
  readonly name: string;
  alloc(dtype: DType, length: number): Storage;
  /** Called when the last tensor referring to `storage` lets go of it. */
  release(storage: Storage): void;
  upload(data: TypedArray): Storage;
  /** Reads a contiguous run of `length` elements starting at `offset`. */
  read(storage: Storage, offset: number, length: number): Promise<TypedArray>;
  /** Present where reading back needs no waiting (CPU). */
  readSync?(storage: Storage, offset: number, length: number): TypedArray;
  kernel(op: string): Kernel | undefined;
  /**
   * Present where a backend may defer computing a kernel's output (WebGPU fuses elementwise chains lazily):
   * computes `storage`'s value now, so that what it was computed from can be freed.
   */
  realize?(storage: Storage): void;
}

const backends = new Map<string, Backend>();
let current: Backend | undefined;

export function registerBackend(backend: Backend): void {
  backends.set(backend.name, backend);
  current ??= backend;
}

export function getBackend(name?: string): Backend {
  if (name === undefined) {
    if (!current) throw new EngineError('no backend registered');
    return current;
  }
  const b = backends.get(name);
  if (!b) throw new EngineError(`unknown backend '${name}' (registered: ${[...backends.keys()].join(', ')})`);
  return b;
}

/** Makes `name` the backend that new tensors are created on. */
export function setBackend(name: string): Backend {
  current = getBackend(name);
  return current;
}

export function listBackends(): string[] {
  return [...backends.keys()];
}
