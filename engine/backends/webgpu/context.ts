import { EngineError } from '../../errors.js';
import type { ElementwiseFusion } from './fusion.js';
import type { GpuQueue } from './queue.js';

/** The process's one WebGPU device, as kernels see it. Set by `initWebGPU()` in device.ts. */

export interface AdapterSummary {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** A CPU implementation (lavapipe): the JavaScript thread competes with it for cores. */
  isCpu: boolean;
  subgroupMinSize: number;
  subgroupMaxSize: number;
  features: string[];
  limits: Record<string, number>;
}

export interface WebGPUContext {
  readonly device: GPUDevice;
  readonly adapter: AdapterSummary;
  readonly queue: GpuQueue;
  readonly fusion: ElementwiseFusion;
}

let context: WebGPUContext | undefined;

/** The live device. */
export function webgpu(): WebGPUContext {
  if (!context) throw new EngineError('WebGPU is not initialised (call `await initWebGPU()` first) or was shut down');
  return context;
}

export function isWebGPUReady(): boolean {
  return context !== undefined;
}

export function setContext(c: WebGPUContext | undefined): void {
  context = c;
}
