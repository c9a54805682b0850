import type { Backend, Kernel, Storage } from '../../backend.js';
import type { DType, TypedArray } from '../../dtype.js';
import { webgpu } from './context.js';
import { type GpuStorage, checkGpuDType } from './buffers.js';
import { attentionKernels } from './attention.js';
import { convKernels } from './conv.js';
import { creationKernels } from './creation.js';
import { elementwiseKernels } from './elementwise.js';
import { indexingKernels } from './indexing.js';
import { matmulKernels } from './matmul.js';
import { normKernels } from './norm.js';
import { reduceKernels } from './reduce.js';
import { shapeKernels } from './shape.js';
import { usesFusedAttention } from './tuning.js';

/**
 * The WebGPU backend: storage is a pooled GPU buffer (f32 or i32), and each kernel records a WGSL dispatch.
 * Kernel files mirror the op families of `engine/ops/` and `engine/backends/cpu/`. An op without a kernel
 * here raises MissingKernelError: there is no silent fallback to the CPU.
 */
const kernels = new Map<string, Kernel>(
  Object.entries({
    ...creationKernels,
    ...elementwiseKernels,
    ...reduceKernels,
    ...shapeKernels,
    ...indexingKernels,
    ...matmulKernels,
    ...convKernels,
    ...normKernels,
    ...attentionKernels,
  }),
);

export function makeWebGPUBackend(): Backend {
  const backend: Backend = {
    name: 'webgpu',
    alloc(dtype: DType, length: number): Storage {
      const { queue, fusion } = webgpu();
      const storage = queue.pool.alloc(backend, dtype, length, queue.batch, false);
      fusion.noteFresh(storage);
      return storage;
    },
    release(storage: Storage): void {
      const { queue, fusion } = webgpu();
      // Pending fused expressions may still read it (fusion.ts): then it goes back to the pool after them.
      if (fusion.release(storage as GpuStorage)) queue.pool.release(storage as GpuStorage, queue.batch);
    },
    upload(data: TypedArray): Storage {
      const dtype: DType = data instanceof Float64Array ? 'float64' : data instanceof Int32Array ? 'int32' : 'float32';
      checkGpuDType(dtype);
      const { device, queue } = webgpu();
      const storage = queue.pool.alloc(backend, dtype, data.length, queue.batch, true);
      if (data.length) device.queue.writeBuffer(storage.buffer, 0, data.buffer, data.byteOffset, data.byteLength);
      return storage;
    },
    realize(storage: Storage): void {
      webgpu().fusion.compute([storage as GpuStorage]);
    },
    read(storage: Storage, offset: number, length: number): Promise<TypedArray> {
      return webgpu().queue.read(storage as GpuStorage, offset, length);
    },
    // Without a fused kernel, a composite op runs as its definition, here on this backend's own kernels.
    kernel: (op) => (op in attentionKernels && !usesFusedAttention(webgpu().adapter, op.endsWith('_backward') ? 'backward' : 'forward') ? undefined : kernels.get(op)),
  };
  return backend;
}

/** Names of the ops with a WebGPU kernel (for coverage checks). */
export function webgpuKernelNames(): string[] {
  return [...kernels.keys()];
}
