import type { Backend, Kernel, Storage } from '../../backend.js';
import { registerBackend } from '../../backend.js';
import type { DType, TypedArray } from '../../dtype.js';
import { typedArrayFor } from '../../dtype.js';
import { attentionKernels } from './attention.js';
import { convKernels } from './conv.js';
import { creationKernels } from './creation.js';
import { elementwiseKernels } from './elementwise.js';
import { indexingKernels } from './indexing.js';
import { matmulKernels } from './matmul.js';
import { normKernels } from './norm.js';
import { reduceKernels } from './reduce.js';
import { shapeKernels } from './shape.js';
import { type CpuStorage, makeCpuStorage } from './storage.js';

/**
 * The plain-TypeScript backend: the readable reference for every kernel, and in float64 the gradient oracle.
 * Kernel files mirror the op families in `engine/ops/`.
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

export const cpuBackend: Backend = {
  name: 'cpu',
  alloc(dtype: DType, length: number): Storage {
    return makeCpuStorage(cpuBackend, dtype, typedArrayFor(dtype, length));
  },
  release(): void {
    // Typed arrays are freed by the garbage collector.
  },
  upload(data: TypedArray): Storage {
    const dtype: DType = data instanceof Float64Array ? 'float64' : data instanceof Int32Array ? 'int32' : 'float32';
    return makeCpuStorage(cpuBackend, dtype, data);
  },
  async read(storage, offset, length) {
    return cpuBackend.readSync!(storage, offset, length);
  },
  readSync(storage, offset, length) {
    return (storage as CpuStorage).data.slice(offset, offset + length);
  },
  kernel: (op) => kernels.get(op),
};

registerBackend(cpuBackend);
