import type { Backend, Storage, View } from '../../backend.js';
import type { DType, TypedArray } from '../../dtype.js';

/**
 * Host memory for the gpu.js backend. gpu.js kernels take typed arrays and give typed arrays back, so every
 * tensor lives in a typed array on the host, exactly like a CPU tensor: the CPU backend's kernels can then run
 * on it unchanged, which is what makes the fallback cheap and honest.
 *
 * In gpu.js's 'webgpu' mode every kernel call returns a Promise (WebGPU has no synchronous readback), while the
 * engine calls kernels synchronously. So a storage may hold `pending` work: its `data` is allocated at once and
 * filled when that promise settles.
 */
export interface GpuJsStorage extends Storage {
  readonly data: TypedArray;
  /** Set while work that writes `data` has not finished (webgpu mode only). */
  pending: Promise<void> | undefined;
}

export function makeGpuJsStorage(backend: Backend, dtype: DType, data: TypedArray): GpuJsStorage {
  return { backend, dtype, length: data.length, refs: 0, data, pending: undefined };
}

export function storageOf(view: View): GpuJsStorage {
  return view.storage as GpuJsStorage;
}

/**
 * Runs kernels' work in the order the kernels were called, like a GPU queue. Order is what makes deferred work
 * correct: an op reads its inputs only after the ops that wrote them, and an in-place write (an optimiser's
 * update of a parameter) lands only after the ops that read the old values. It also keeps gpu.js from resizing
 * a kernel for its next call while the first call still waits for the kernel's asynchronous build.
 *
 * While nothing is pending and work is synchronous (the 'cpu' and 'webasm' modes), work runs at once. After a
 * failure every later piece of work fails with the same error, at the next read.
 */
export class KernelStream {
  private tail: Promise<void> | undefined;

  submit(outputs: readonly View[], work: () => void | Promise<void>): void {
    const done = this.tail ? this.tail.then(work) : work();
    if (!done) return;
    this.tail = done;
    for (const o of outputs) storageOf(o).pending = done;
    done.then(
      () => {
        if (this.tail === done) this.tail = undefined;
        for (const o of outputs) if (storageOf(o).pending === done) storageOf(o).pending = undefined;
      },
      // Handled where the outputs are read; marking it here keeps Node from reporting it as unhandled.
      () => {},
    );
  }

  /** Settles once all work submitted so far has, successfully or not. */
  async finish(): Promise<void> {
    await this.tail?.catch(() => {});
  }
}
