import { setBackend } from '../engine/index.js';
import { TrainError } from './errors.js';

/*
 * Which backend a command runs on: `--backend cpu|webgpu|gpujs|auto`, else the ENGINE_BACKEND variable, else the CPU
 * (reproducible, and the reference). WebGPU is loaded only when asked for, through the engine's own selection,
 * so a CPU run never opens Dawn.
 */

export type BackendChoice = 'cpu' | 'webgpu' | 'gpujs' | 'auto';

export function parseBackendChoice(value: string | undefined, env: Record<string, string | undefined> = process.env): BackendChoice {
  const choice = (value ?? env.ENGINE_BACKEND ?? 'cpu').toLowerCase();
  if (choice !== 'cpu' && choice !== 'webgpu' && choice !== 'gpujs' && choice !== 'auto') {
    throw new TrainError(`${value !== undefined ? '--backend' : 'ENGINE_BACKEND'} must be cpu, webgpu, gpujs or auto, not '${choice}'`);
  }
  return choice;
}

type WebGPUDevice = typeof import('../engine/backends/webgpu/device.js');
let webgpuModule: WebGPUDevice | undefined;
let gpujsModule: typeof import('../engine/backends/gpujs/backend.js') | undefined;

async function loadWebGPU(): Promise<WebGPUDevice> {
  try {
    webgpuModule ??= await import('../engine/backends/webgpu/device.js');
    return webgpuModule;
  } catch (e) {
    throw new TrainError(`the WebGPU backend cannot be loaded in this build (${(e as Error).message}); use --backend cpu`);
  }
}

export interface Selected {
  name: string;
  /** Why this backend, in words. */
  reason: string;
}

/** Makes the chosen backend current. 'webgpu' fails with a clear message when it is unavailable; 'auto' falls back to the CPU. */
export async function selectBackend(choice: BackendChoice): Promise<Selected> {
  if (choice === 'cpu') {
    setBackend('cpu');
    return { name: 'cpu', reason: 'cpu: requested' };
  }
  if (choice === 'gpujs') {
    gpujsModule ??= await import('../engine/backends/gpujs/backend.js');
    const backend = await gpujsModule.initGpuJs();
    setBackend('gpujs');
    return { name: 'gpujs', reason: `gpujs: requested (gpu.js mode '${backend.mode}', from GPUJS_MODE)` };
  }
  let device: WebGPUDevice;
  try {
    device = await loadWebGPU();
  } catch (e) {
    if (choice === 'webgpu') throw e;
    setBackend('cpu');
    return { name: 'cpu', reason: `auto → cpu (${(e as Error).message})` };
  }
  try {
    const { backend, reason } = await device.selectBackend(choice, { verbose: false });
    return { name: backend.name, reason };
  } catch (e) {
    throw new TrainError(`--backend webgpu: ${(e as Error).message}`);
  }
}

/** Details of the WebGPU adapter, or why there is none (for `info`). */
export async function describeWebGPU(): Promise<{ available: boolean; adapter?: string; limits?: Record<string, number>; reason?: string }> {
  try {
    const device = await loadWebGPU();
    await device.initWebGPU({ verbose: false });
    const { webgpu } = await import('../engine/backends/webgpu/context.js');
    const summary = webgpu().adapter;
    return { available: true, adapter: device.describeAdapter(summary), limits: summary.limits };
  } catch (e) {
    return { available: false, reason: (e as Error).message };
  }
}

/** Lets Node exit: a live WebGPU device keeps the process open. Says which ops the gpu.js backend ran on the CPU. */
export async function releaseBackend(): Promise<void> {
  await webgpuModule?.destroyWebGPU();
  const gpujs = gpujsModule?.currentGpuJs();
  if (gpujs) console.log(gpujs.summary());
  await gpujsModule?.destroyGpuJs();
}
