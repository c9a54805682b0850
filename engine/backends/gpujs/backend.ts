import type { Backend, Kernel, Storage, View } from '../../backend.js';
import { getBackend, registerBackend, setBackend } from '../../backend.js';
import type { DType, TypedArray } from '../../dtype.js';
import { typedArrayFor } from '../../dtype.js';
import { EngineError } from '../../errors.js';
import { cpuBackend } from '../cpu/index.js';
import { convKernels } from './conv.js';
import { elementwiseKernels } from './elementwise.js';
import { type FallbackCount, type FallbackReason, FallbackLedger } from './fallback.js';
import type { GpuJsKernel } from './kernel.js';
import { matmulKernels } from './matmul.js';
import { reduceKernels } from './reduce.js';
import { GPUJS_MODES, type GpuJsMode, type GpuJsRuntime, openGpuJs } from './runtime.js';
import { type GpuJsStorage, KernelStream, makeGpuJsStorage } from './storage.js';

/**
 * The gpu.js backend, named 'gpujs': its kernels are JavaScript functions that gpu.js transpiles for the chosen
 * mode ('cpu': plain JavaScript, 'webasm': WebAssembly with SIMD, 'webgpu': WGSL on Dawn). It covers the
 * elementwise ops, the sum/amax/amin reductions, matmul and conv2d, in float32. Every other op, and these ops on
 * float64, int32, empty or over-2^24-element tensors, runs the CPU backend's kernel on the same host arrays:
 * explicitly, and counted in `fallbacks()`. Composite ops (softmax, norms, attention) run as their parts, as they
 * do on the CPU.
 */
export interface GpuJsBackend extends Backend {
  readonly mode: GpuJsMode;
  /** Op name → how often it fell back to the CPU kernel, and why. */
  fallbacks(): Map<string, FallbackCount>;
  /** One line for logs and CLIs: the mode, the kernel calls on gpu.js, and each op that fell back. */
  summary(): string;
  resetFallbacks(): void;
  /** Waits for pending work, then releases gpu.js (in webgpu mode, its device), so that Node can exit. */
  destroy(): Promise<void>;
}

const gpuJsKernels = new Map<string, GpuJsKernel>(
  Object.entries({ ...elementwiseKernels, ...reduceKernels, ...matmulKernels, ...convKernels }),
);

/** The ops that have a gpu.js kernel. */
export function gpuJsOps(): string[] {
  return [...gpuJsKernels.keys()];
}

const MAX_INDEXABLE = 2 ** 24;

/** Why `op` on these tensors cannot run on its gpu.js kernel, or undefined when it can. */
function fallbackReason(kernel: GpuJsKernel | undefined, views: readonly View[]): FallbackReason | undefined {
  if (!kernel) return 'no gpu.js kernel';
  const other = views.find((v) => v.dtype !== 'float32');
  if (other) return other.dtype as 'float64' | 'int32';
  // gpu.js cannot take an empty array nor run over an empty output.
  if (views.some((v) => v.shape.includes(0))) return 'empty tensor';
  // gpu.js's WGSL computes indices in f32 (its arguments are f32, even integer tables), exact only below 2^24.
  if (views.some((v) => v.storage.length > MAX_INDEXABLE)) return 'over 2^24 elements';
  return undefined;
}

export function makeGpuJsBackend(runtime: GpuJsRuntime): GpuJsBackend {
  const ledger = new FallbackLedger();
  const stream = new KernelStream();

  const kernels = new Map<string, Kernel | undefined>();
  function kernelFor(op: string): Kernel | undefined {
    if (!kernels.has(op)) kernels.set(op, dispatcher(op));
    return kernels.get(op);
  }

  /** The kernel the engine calls for `op`: gpu.js or, by the fallback rule, the CPU's, decided per call. */
  function dispatcher(op: string): Kernel | undefined {
    const onGpuJs = gpuJsKernels.get(op);
    const onCpu = cpuBackend.kernel(op);
    if (!onGpuJs && !onCpu) return undefined;
    return (inputs, outputs, attrs) => {
      const reason = fallbackReason(onGpuJs, [...inputs, ...outputs]);
      if (reason === undefined) {
        ledger.onGpuJs++;
        stream.submit(outputs, () => onGpuJs!(runtime, inputs, outputs, attrs));
        return;
      }
      if (!onCpu) throw new EngineError(`gpujs: ${op} cannot run on gpu.js (${reason}) and the CPU backend has no kernel for it`);
      ledger.record(op, reason);
      stream.submit(outputs, () => onCpu(inputs, outputs, attrs));
    };
  }

  const readNow = (storage: Storage, offset: number, length: number): TypedArray => (storage as GpuJsStorage).data.slice(offset, offset + length);

  const backend: GpuJsBackend = {
    name: 'gpujs',
    mode: runtime.mode,
    alloc: (dtype: DType, length: number) => makeGpuJsStorage(backend, dtype, typedArrayFor(dtype, length)),
    release: () => {
      // Host arrays are freed by the garbage collector; gpu.js keeps no device buffers for them.
    },
    upload(data: TypedArray): Storage {
      const dtype: DType = data instanceof Float64Array ? 'float64' : data instanceof Int32Array ? 'int32' : 'float32';
      return makeGpuJsStorage(backend, dtype, data);
    },
    async read(storage, offset, length) {
      await (storage as GpuJsStorage).pending;
      return readNow(storage, offset, length);
    },
    // In webgpu mode results arrive asynchronously, so only the synchronous modes can read synchronously.
    readSync: runtime.mode === 'webgpu' ? undefined : readNow,
    kernel: kernelFor,
    fallbacks: () => ledger.snapshot(),
    summary: () => `gpujs (gpu.js mode '${runtime.mode}', ${runtime.compiledKernels} kernels compiled): ${ledger.summary()}`,
    resetFallbacks: () => ledger.reset(),
    async destroy() {
      await stream.finish();
      await runtime.destroy();
    },
  };
  return backend;
}

/** Reads GPUJS_MODE ('cpu' | 'webasm' | 'webgpu'), default 'cpu', the mode that works on any machine. */
export function gpuJsModeFromEnv(env: Record<string, string | undefined> = process.env): GpuJsMode {
  const mode = (env.GPUJS_MODE ?? 'cpu').toLowerCase();
  if (!(GPUJS_MODES as readonly string[]).includes(mode)) throw new EngineError(`GPUJS_MODE must be one of ${GPUJS_MODES.join(', ')}, not '${mode}'`);
  return mode as GpuJsMode;
}

let current: GpuJsBackend | undefined;

/**
 * Opens gpu.js in `mode` and registers the backend as 'gpujs' (replacing one opened before in another mode,
 * after destroying it); select it with `setBackend('gpujs')`. Throws when the mode cannot run here.
 */
export async function initGpuJs(mode: GpuJsMode = gpuJsModeFromEnv()): Promise<GpuJsBackend> {
  if (current?.mode === mode) return current;
  await destroyGpuJs();
  current = makeGpuJsBackend(await openGpuJs(mode));
  registerBackend(current);
  return current;
}

/** The gpu.js backend opened by `initGpuJs`, if any (for its `summary()` at exit). */
export function currentGpuJs(): GpuJsBackend | undefined {
  return current;
}

/** Releases the registered gpu.js backend, if any. Tensors on it are invalid afterwards. */
export async function destroyGpuJs(): Promise<void> {
  const backend = current;
  current = undefined;
  await backend?.destroy();
  if (backend && getBackend() === backend) setBackend('cpu');
}
