import type { View } from '../../backend.js';
import type { GpuJsRuntime } from './runtime.js';

/**
 * A gpu.js kernel for one op: it reads its inputs' host arrays (all float32, none empty), runs gpu.js and
 * fills the outputs, synchronously or, in webgpu mode, by the returned promise.
 */
export type GpuJsKernel<A = any> = (runtime: GpuJsRuntime, inputs: View[], outputs: View[], attrs: A) => void | Promise<void>;
