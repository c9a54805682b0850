import type { Backend, Storage, View } from './backend.js';
import { getBackend } from './backend.js';
import type { DType, TypedArray } from './dtype.js';
import { isFloat, toTypedArray } from './dtype.js';
import { EngineError } from './errors.js';
import { noteCreated, noteDisposed, trackInScope } from './memory.js';
import type { GraphNode } from './autograd/node.js';
import { contiguousStrides, isContiguous, numel } from './shape.js';

let nextId = 1;

/**
 * A view of backend storage: shape, strides and offset over a buffer that other views may share.
 * Ops live in `engine/ops/`; the methods that call them are attached in `engine/ops/methods.ts`.
 */
export class Tensor implements View {
  readonly isTensor = true;
  readonly id = nextId++;
  readonly shape: readonly number[];
  readonly strides: readonly number[];
  readonly offset: number;
  readonly dtype: DType;
  readonly storage: Storage;

  /** The op that produced this tensor, when it was recorded for autograd. */
  gradFn: GraphNode | null = null;
  /** Which output of `gradFn` this tensor is. */
  outputIndex = 0;
  /** Accumulated gradient of a leaf tensor after `backward()`. */
  grad: Tensor | null = null;
  /** Survives the end of the scope it was created in (parameters, cached constants). */
  persistent = false;
  private _requiresGrad = false;
  private _disposed = false;

  constructor(storage: Storage, shape: readonly number[], strides?: readonly number[], offset = 0) {
    this.storage = storage;
    this.dtype = storage.dtype;
    this.shape = Object.freeze([...shape]);
    this.strides = Object.freeze(strides ? [...strides] : contiguousStrides(shape));
    this.offset = offset;
    storage.refs++;
    trackInScope(this);
    noteCreated(this);
  }

  get backend(): Backend {
    return this.storage.backend;
  }
  get rank(): number {
    return this.shape.length;
  }
  get size(): number {
    return numel(this.shape);
  }
  get isContiguous(): boolean {
    return isContiguous(this.shape, this.strides);
  }
  get disposed(): boolean {
    return this._disposed;
  }

  /** True for tensors that autograd tracks: leaves marked by the user, and results of tracked ops. */
  get requiresGrad(): boolean {
    return this._requiresGrad;
  }
  set requiresGrad(value: boolean) {
    if (value && !isFloat(this.dtype)) throw new EngineError(`requiresGrad: only float tensors can require gradients, not ${this.dtype}`);
    if (!value && this.gradFn) throw new EngineError('requiresGrad: cannot turn off on a non-leaf tensor; use detach()');
    this._requiresGrad = value;
  }
  /** Marks a leaf as trainable and returns it (chainable, like `requires_grad_()`). */
  requiresGrad_(value = true): this {
    this.requiresGrad = value;
    return this;
  }
  get isLeaf(): boolean {
    return this.gradFn === null;
  }

  /** Frees this tensor's hold on its storage. Using it afterwards is an error. */
  dispose(): void {
    if (this._disposed) return;
    this._disposed = true;
    noteDisposed(this);
    this.storage.refs--;
    if (this.storage.refs === 0) this.storage.backend.release(this.storage);
  }

  assertAlive(op: string): void {
    if (this._disposed) throw new EngineError(`${op}: tensor #${this.id} ${JSON.stringify(this.shape)} was disposed`);
  }

  /** Elements in row-major order (makes a contiguous copy when this is a strided view). */
  async toArray(): Promise<TypedArray> {
    const c = this.contiguousForRead();
    try {
      return await c.backend.read(c.storage, c.offset, c.size);
    } finally {
      if (c !== this) c.dispose();
    }
  }

  /** Synchronous read, where the backend allows it (CPU). */
  toArraySync(): TypedArray {
    const c = this.contiguousForRead();
    try {
      if (!c.backend.readSync) throw new EngineError(`toArraySync: backend '${c.backend.name}' reads asynchronously; use await toArray()`);
      return c.backend.readSync(c.storage, c.offset, c.size);
    } finally {
      if (c !== this) c.dispose();
    }
  }

  async item(): Promise<number> {
    this.checkItem();
    return (await this.toArray())[0]!;
  }

  itemSync(): number {
    this.checkItem();
    return this.toArraySync()[0]!;
  }

  private checkItem(): void {
    if (this.size !== 1) throw new EngineError(`item: tensor of shape ${JSON.stringify(this.shape)} has ${this.size} elements, not 1`);
  }

  private contiguousForRead(): Tensor {
    this.assertAlive('toArray');
    return this.isContiguous ? this : contiguousCopy(this);
  }

  toString(): string {
    return `Tensor(shape=[${this.shape.join(',')}], dtype=${this.dtype}, backend=${this.backend.name}${this.requiresGrad ? ', requiresGrad' : ''})`;
  }
}

/** Set by ops/shape.ts: the copy op (kept as a hook so that tensor.ts does not import the op layer). */
let contiguousCopy: (t: Tensor) => Tensor = () => {
  throw new EngineError('contiguous copy is not registered yet');
};
export function setContiguousCopy(fn: (t: Tensor) => Tensor): void {
  contiguousCopy = fn;
}

export interface CreateOptions {
  dtype?: DType;
  backend?: string | Backend;
  requiresGrad?: boolean;
}

export function resolveBackend(b: string | Backend | undefined): Backend {
  return typeof b === 'object' ? b : getBackend(b);
}

/** A tensor holding `values` (flat, row-major) with `shape`. Default dtype float32. */
export function fromArray(values: ArrayLike<number>, shape?: readonly number[], opts: CreateOptions = {}): Tensor {
  const dtype = opts.dtype ?? (values instanceof Float64Array ? 'float64' : values instanceof Int32Array ? 'int32' : 'float32');
  const sh = shape ?? [values.length];
  if (numel(sh) !== values.length) {
    throw new EngineError(`fromArray: ${values.length} values cannot fill shape ${JSON.stringify(sh)} (${numel(sh)} elements)`);
  }
  if (sh.some((d) => !Number.isInteger(d) || d < 0)) throw new EngineError(`fromArray: invalid shape ${JSON.stringify(sh)}`);
  const backend = resolveBackend(opts.backend);
  const t = new Tensor(backend.upload(toTypedArray(values, dtype)), sh);
  if (opts.requiresGrad) t.requiresGrad = true;
  return t;
}

/** A 0-d tensor. */
export function scalar(value: number, opts: CreateOptions = {}): Tensor {
  return fromArray([value], [], opts);
}

/** Nested JS arrays to a tensor, inferring the shape. */
export function tensor(data: number | NestedArray, opts: CreateOptions = {}): Tensor {
  if (typeof data === 'number') return scalar(data, opts);
  const shape: number[] = [];
  let level: number | NestedArray = data;
  while (Array.isArray(level)) {
    shape.push(level.length);
    level = level[0] as number | NestedArray;
  }
  const flat = (data as unknown[]).flat(Infinity) as number[];
  return fromArray(flat, shape, opts);
}
export type NestedArray = readonly (number | NestedArray)[];
