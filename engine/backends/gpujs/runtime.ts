import { GPU, type IKernelRunShortcut, type KernelFunction } from 'gpu.js';
import type { View } from '../../backend.js';
import { EngineError } from '../../errors.js';
import { storageOf } from './storage.js';

/**
 * One gpu.js instance and its compiled kernels. gpu.js transpiles a kernel function's JavaScript source into the
 * target (plain JavaScript, WebAssembly or WGSL). Sizes, strides and loop bounds are passed as number arguments
 * rather than compile-time constants, and outputs and arguments may change size between calls, so each kernel
 * function compiles once: on lavapipe a WGSL compile costs far more than the kernel runs.
 */

/** gpu.js's own names for the targets that work in Node here (headless-gl does not install). */
export type GpuJsMode = 'cpu' | 'webasm' | 'webgpu';
export const GPUJS_MODES: readonly GpuJsMode[] = ['cpu', 'webasm', 'webgpu'];

/** What a kernel function sees as `this`: its thread's position in the output (x fastest, then y, z). */
export interface KernelThis {
  readonly thread: { readonly x: number; readonly y: number; readonly z: number };
}

type Result = Float32Array | Float32Array[] | Float32Array[][];

export class GpuJsRuntime {
  private readonly compiled = new Map<string, IKernelRunShortcut>();

  constructor(
    readonly gpu: GPU,
    readonly mode: GpuJsMode,
  ) {}

  /** How many kernels have been compiled (each costs a transpile, and in webgpu mode a shader compile). */
  get compiledKernels(): number {
    return this.compiled.size;
  }

  /**
   * Runs the kernel `fn` over `output` (gpu.js order: [x] or [x, y] or [x, y, z]) and writes the values, row-major
   * (z, y, x), into `out`'s storage. `name` must identify `fn`'s source: it keys the cache. Returns a promise in webgpu mode, where the result arrives asynchronously.
   */
  run(name: string, fn: string | ((this: KernelThis, ...args: never[]) => number), output: number[], args: unknown[], out: View): void | Promise<void> {
    // gpu.js fixes only the output's rank at build; sizes change per call.
    const key = `${name}|rank ${output.length}`;
    let kernel = this.compiled.get(key);
    if (!kernel) {
      // gpu.js caps every loop whose bound is not a constant at `loopMaxIterations` (default 1000) and then
      // stops it silently; the backend keeps tensors under 2^24 elements, so this cap is never reached.
      const settings = { output, precision: 'single', tactic: 'precision', dynamicOutput: true, dynamicArguments: true, loopMaxIterations: 2 ** 30 } as const;
      kernel = this.gpu.createKernel(fn as unknown as KernelFunction, settings);
      this.compiled.set(key, kernel);
    }
    const dst = storageOf(out).data;
    const launch = () => {
      kernel.setOutput(output);
      return (kernel as unknown as (...a: unknown[]) => Result | Promise<Result>)(...args);
    };
    // In webgpu mode the result arrives later. The caller must not resize this kernel before it has: its first
    // call reads the output size only after an asynchronous build (the backend's KernelStream sees to that).
    const result = launch();
    if (result instanceof Promise) return result.then((r) => writeFlat(r, dst, out.offset));
    writeFlat(result, dst, out.offset);
  }

  async destroy(): Promise<void> {
    this.compiled.clear();
    await this.gpu.destroy();
  }
}

/** Copies gpu.js's result (a typed array per row, nested for 3-D outputs) into one flat array. */
function writeFlat(result: Result, dst: { set(a: ArrayLike<number>, at: number): void }, at: number): void {
  if (ArrayBuffer.isView(result)) {
    dst.set(result, at);
    return;
  }
  for (const part of result) {
    if (ArrayBuffer.isView(part)) {
      dst.set(part, at);
      at += part.length;
    } else {
      for (const row of part) {
        dst.set(row, at);
        at += row.length;
      }
    }
  }
}

/**
 * Opens gpu.js in `mode`. gpu.js's webgpu mode only reads `navigator.gpu`, which Node 20 lacks: it is supplied
 * from the project's `webgpu` package (Dawn), whose classes code written for browsers also expects as globals.
 */
export async function openGpuJs(mode: GpuJsMode): Promise<GpuJsRuntime> {
  if (mode === 'webgpu') {
    await provideNavigatorGpu();
    if (!(await GPU.isWebGPUAvailable())) {
      throw new EngineError('gpu.js webgpu mode: no WebGPU adapter answered. On a machine without a GPU, run scripts/install-lavapipe.sh and set XDG_RUNTIME_DIR');
    }
  }
  if (mode === 'webasm' && !GPU.isWebAssemblySupported) throw new EngineError('gpu.js webasm mode: WebAssembly is not supported here');
  return new GpuJsRuntime(new GPU({ mode }), mode);
}

async function provideNavigatorGpu(): Promise<void> {
  const scope = globalThis as { navigator?: { gpu?: unknown } };
  if (scope.navigator?.gpu) return;
  const { create, globals } = (await import('webgpu')) as { create: (flags: string[]) => unknown; globals: object };
  Object.assign(globalThis, globals);
  // Node 21+ defines a read-only `navigator` without `gpu`: extend it rather than assign over it.
  const navigator = Object.create(scope.navigator ?? null) as { gpu?: unknown };
  navigator.gpu = create([]);
  Object.defineProperty(globalThis, 'navigator', { value: navigator, configurable: true, writable: true });
}
