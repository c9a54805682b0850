import type { Backend, Storage, View } from '../../backend.js';
import type { DType } from '../../dtype.js';
import { EngineError } from '../../errors.js';

/**
 * GPU storage and its pool. Buffers are recycled by size class (four classes per power of two, so at most 25%
 * is wasted): creating and destroying buffers every step is what makes WebGPU programs slow down over time.
 *
 * One ordering subtlety: recorded dispatches are submitted in batches, but `queue.writeBuffer` (uploads) runs
 * before the batch still being recorded. A buffer released during that batch may still be read by it, so an
 * upload only takes buffers released in an earlier, already submitted batch; kernels may take any free one.
 */

export interface GpuStorage extends Storage {
  readonly buffer: GPUBuffer;
  /** Stable number for cache keys (bind groups). */
  readonly id: number;
  /** Size of `buffer` in bytes (its size class, ≥ length × 4). */
  readonly capacity: number;
}

/** WGSL has no f64, and storage here is f32 or i32 only. */
export function checkGpuDType(dtype: DType): void {
  if (dtype === 'float64') {
    throw new EngineError("WebGPU: float64 tensors are not supported (WGSL has no f64); cast to 'float32' on the CPU before moving to WebGPU");
  }
}

export function gpuStorageOf(view: View | Storage): GpuStorage {
  return ('storage' in view ? view.storage : view) as GpuStorage;
}

const MIN_BYTES = 256;

/** The size class holding `bytes`: 256 B minimum, then 2^k · {1, 1.25, 1.5, 1.75}. */
export function sizeClass(bytes: number): number {
  if (bytes <= MIN_BYTES) return MIN_BYTES;
  const step = 2 ** Math.floor(Math.log2(bytes)) / 4;
  return Math.ceil(bytes / step) * step;
}

interface FreeBuffer {
  buffer: GPUBuffer;
  id: number;
  /** The batch during which it was released (see the ordering note above). */
  releasedInBatch: number;
}

export interface PoolStats {
  /** Bytes held by live storages. */
  liveBytes: number;
  /** Bytes waiting in the pool for reuse. */
  pooledBytes: number;
  /** Buffers created since start (a count that keeps rising in a steady loop means the pool is not reused). */
  created: number;
}

/** Shaders index storage with u32, so element counts must stay below 2^32. */
export const MAX_U32_INDEX = 2 ** 32 - 1;

/**
 * Refuses a tensor that one storage binding cannot hold: kernels bind a tensor's buffer whole, so a tensor
 * above the adapter's maxStorageBufferBindingSize (requested in full in device.ts) cannot be computed on, and
 * indices past 2^32 − 1 would wrap.
 */
export function checkStorageSize(dtype: DType, length: number, maxBindingBytes: number): void {
  const bytes = length * 4;
  if (length > MAX_U32_INDEX) {
    throw new EngineError(`WebGPU: a ${dtype} tensor of ${length} elements has more than 2^32 − 1, the most WGSL's u32 indices address`);
  }
  if (bytes > maxBindingBytes) {
    throw new EngineError(
      `WebGPU: a ${dtype} tensor of ${length} elements (${bytes} B) exceeds this device's maxStorageBufferBindingSize of ${maxBindingBytes} B; ` +
        'split it into smaller tensors or use the CPU backend',
    );
  }
}

export class BufferPool {
  private readonly free = new Map<number, FreeBuffer[]>();
  private nextId = 1;
  private stats: PoolStats = { liveBytes: 0, pooledBytes: 0, created: 0 };

  constructor(
    private readonly device: GPUDevice,
    private readonly maxBindingBytes: number,
  ) {}

  alloc(backend: Backend, dtype: DType, length: number, currentBatch: number, forUpload: boolean): GpuStorage {
    checkGpuDType(dtype);
    checkStorageSize(dtype, length, this.maxBindingBytes);
    const bytes = length * 4;
    const capacity = Math.min(sizeClass(bytes), Math.max(MIN_BYTES, this.maxBindingBytes));
    const got = this.take(capacity, forUpload ? currentBatch : Infinity) ?? this.create(capacity);
    this.stats.liveBytes += capacity;
    return { backend, dtype, length, refs: 0, buffer: got.buffer, id: got.id, capacity };
  }

  release(s: GpuStorage, currentBatch: number): void {
    this.stats.liveBytes -= s.capacity;
    this.stats.pooledBytes += s.capacity;
    let list = this.free.get(s.capacity);
    if (!list) this.free.set(s.capacity, (list = []));
    list.push({ buffer: s.buffer, id: s.id, releasedInBatch: currentBatch });
  }

  /** Most recently released first (warm in caches), among those released before `beforeBatch`. */
  private take(capacity: number, beforeBatch: number): FreeBuffer | undefined {
    const list = this.free.get(capacity);
    if (!list) return undefined;
    for (let i = list.length - 1; i >= 0; i--) {
      if (list[i]!.releasedInBatch < beforeBatch) {
        const [got] = list.splice(i, 1);
        this.stats.pooledBytes -= capacity;
        return got;
      }
    }
    return undefined;
  }

  private create(capacity: number): FreeBuffer {
    const buffer = this.device.createBuffer({
      size: capacity,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
    });
    this.stats.created++;
    return { buffer, id: this.nextId++, releasedInBatch: -1 };
  }

  /**
   * Destroys pooled buffers released before `beforeBatch` (all of them once the queue is idle) and returns
   * their ids, so that caches holding them can forget them.
   */
  trim(beforeBatch: number): number[] {
    const dropped: number[] = [];
    for (const [capacity, list] of this.free) {
      const keep = list.filter((f) => f.releasedInBatch >= beforeBatch);
      for (const f of list) {
        if (f.releasedInBatch < beforeBatch) {
          f.buffer.destroy();
          dropped.push(f.id);
          this.stats.pooledBytes -= capacity;
        }
      }
      if (keep.length) this.free.set(capacity, keep);
      else this.free.delete(capacity);
    }
    return dropped;
  }

  snapshot(): PoolStats {
    return { ...this.stats };
  }
}
