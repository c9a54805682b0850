import type { Backend, Storage } from '../../backend.js';
import { getBackend, registerBackend, setBackend } from '../../backend.js';
import { EngineError } from '../../errors.js';
import { deferFiniteChecks } from '../../op.js';
import { checkAnomaliesOnRead, discardAnomalyChecks, recordFiniteChecks } from './anomaly.js';
import { makeWebGPUBackend } from './backend.js';
import { type AdapterSummary, isWebGPUReady, setContext, webgpu } from './context.js';
import type { GpuStorage, PoolStats } from './buffers.js';
import { ElementwiseFusion } from './fusion.js';
import { GpuQueue } from './queue.js';

/**
 * The WebGPU device: one adapter and one device per process, created with the adapter's own limits (the
 * defaults would cap storage buffers at 8 per stage and workgroup memory at 16 KiB).
 *
 * Dawn is loaded lazily, so a CPU-only program never opens `dawn.node`. Two Dawn facts shape this file: Node
 * will not exit while a device is alive, so `destroyWebGPU()` must run before exit; and exiting while lavapipe
 * still compiles or runs work can crash inside LLVM, so shutdown waits for the queue to go idle first.
 */

/** Buffers one fused elementwise kernel reads at most (fusion.ts); the parameter block limits it too. */
const MAX_FUSED_READS = 12;

let gpuHandle: GPU | undefined;
let webgpuBackend: Backend | undefined;

export interface InitOptions {
  /** Dawn toggles, e.g. `enable-dawn-features=disable_robustness` (see node-webgpu's README). */
  dawnFlags?: string[];
  /** Print the adapter's description (default: true). */
  verbose?: boolean;
}

/**
 * Opens the adapter and device and registers the backend named 'webgpu' (idempotent). Throws when no adapter
 * is found: on a machine without a GPU, install lavapipe with scripts/install-lavapipe.sh.
 */
export async function initWebGPU(opts: InitOptions = {}): Promise<Backend> {
  if (isWebGPUReady() && webgpuBackend) return webgpuBackend;
  const { create, globals } = await loadDawn();
  // Dawn's classes (GPUBufferUsage, GPUMapMode, ...) are expected as globals by code written for browsers.
  Object.assign(globalThis, globals);
  // Timestamps at full resolution, for timing.ts (Dawn rounds them otherwise).
  gpuHandle = create(['disable-dawn-features=timestamp_quantization', ...(opts.dawnFlags ?? [])]);
  const adapter = await gpuHandle.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) {
    gpuHandle = undefined;
    throw new EngineError(
      'WebGPU: no adapter found. On a machine without a GPU, run scripts/install-lavapipe.sh (Mesa lavapipe) and set XDG_RUNTIME_DIR',
    );
  }
  const limits: Record<string, number> = {};
  for (const key in adapter.limits) limits[key] = (adapter.limits as unknown as Record<string, number>)[key]!;
  const summary = summarise(adapter, limits);
  // Subgroups serve the matmul kernel of CPU adapters (see tuning.ts); timestamps serve GPU timing (timing.ts).
  const features = (['subgroups', 'timestamp-query'] as GPUFeatureName[]).filter((f) => adapter.features.has(f));
  const device = await adapter.requestDevice({ requiredLimits: limits, requiredFeatures: features });
  const queue = new GpuQueue(device, summary);
  // Validation errors are programming errors in a kernel: the next read throws them with Dawn's message.
  device.addEventListener('uncapturederror', (e) => queue.noteError((e as GPUUncapturedErrorEvent).error.message));
  const { maxStorageBuffersPerShaderStage = 8 } = limits;
  setContext({ device, adapter: summary, queue, fusion: new ElementwiseFusion(queue, summary, Math.min(maxStorageBuffersPerShaderStage - 1, MAX_FUSED_READS)) });
  webgpuBackend ??= anomalyAware(makeWebGPUBackend());
  registerBackend(webgpuBackend);
  if (opts.verbose ?? true) console.log(`WebGPU: ${describeAdapter(summary)}`);
  return webgpuBackend;
}

/** Anomaly mode records its checks on the device, and every read first reports the anomalies found (anomaly.ts). */
function anomalyAware(backend: Backend): Backend {
  deferFiniteChecks(backend.name, recordFiniteChecks);
  checkAnomaliesOnRead(backend);
  return backend;
}

async function loadDawn(): Promise<{ create: (flags: string[]) => GPU; globals: object }> {
  try {
    return (await import('webgpu')) as { create: (flags: string[]) => GPU; globals: object };
  } catch (e) {
    throw new EngineError(`WebGPU: cannot load the 'webgpu' package (dawn.node): ${(e as Error).message}`);
  }
}

function summarise(adapter: GPUAdapter, limits: Record<string, number>): AdapterSummary {
  const info = adapter.info as GPUAdapterInfo & { subgroupMinSize?: number; subgroupMaxSize?: number; isFallbackAdapter?: boolean };
  const isCpu = info.architecture === 'software' || /llvmpipe|lavapipe|swiftshader/i.test(`${info.device} ${info.description}`) || info.isFallbackAdapter === true;
  return {
    vendor: info.vendor,
    architecture: info.architecture,
    device: info.device,
    description: info.description,
    isCpu,
    subgroupMinSize: info.subgroupMinSize ?? 0,
    subgroupMaxSize: info.subgroupMaxSize ?? 0,
    features: [...adapter.features].sort(),
    limits,
  };
}

export function describeAdapter(a: AdapterSummary): string {
  const kind = a.isCpu ? 'CPU (software Vulkan)' : 'GPU';
  const storage = (a.limits.maxStorageBufferBindingSize ?? 0) / 2 ** 20;
  return (
    `${a.description || a.device} [${a.vendor}/${a.architecture}, ${kind}]; subgroups ${a.subgroupMinSize}–${a.subgroupMaxSize}, ` +
    `max storage binding ${storage} MiB, workgroup memory ${a.limits.maxComputeWorkgroupStorageSize} B, ` +
    `${a.limits.maxComputeInvocationsPerWorkgroup} invocations/workgroup`
  );
}

/**
 * Finishes all submitted work, frees every buffer and destroys the device, so that Node can exit. Tensors on
 * the WebGPU backend are invalid afterwards.
 */
export async function destroyWebGPU(): Promise<void> {
  if (!isWebGPUReady()) return;
  const ctx = webgpu();
  discardAnomalyChecks();
  ctx.fusion.clear();
  await ctx.queue.shutdown();
  setContext(undefined);
  ctx.device.destroy();
  gpuHandle = undefined;
  if (webgpuBackend && getBackend().name === 'webgpu') setBackend('cpu');
}

/* ---------------------------------------------------------------- choosing a backend */

/** 'gpujs' runs gpu.js kernels in the mode GPUJS_MODE names (see engine/backends/gpujs/README.md). */
export type BackendChoice = 'cpu' | 'webgpu' | 'gpujs' | 'auto';

export interface Selection {
  backend: Backend;
  /** Why this backend, in words (for CLIs and test logs). */
  reason: string;
}

/** Reads ENGINE_BACKEND ('cpu' | 'webgpu' | 'gpujs' | 'auto'), default 'auto'. */
export function backendChoiceFromEnv(env: Record<string, string | undefined> = process.env): BackendChoice {
  const v = (env.ENGINE_BACKEND ?? 'auto').toLowerCase();
  if (v !== 'cpu' && v !== 'webgpu' && v !== 'gpujs' && v !== 'auto') throw new EngineError(`ENGINE_BACKEND must be cpu, webgpu, gpujs or auto, not '${v}'`);
  return v;
}

/**
 * Makes the chosen backend the default for new tensors. 'webgpu' fails when no adapter is found; 'auto' takes
 * WebGPU when an adapter exists and the CPU otherwise, and says which it picked and why.
 */
export async function selectBackend(choice: BackendChoice = backendChoiceFromEnv(), opts: InitOptions = {}): Promise<Selection> {
  if (choice === 'cpu') return { backend: setBackend('cpu'), reason: 'cpu: requested' };
  if (choice === 'gpujs') {
    const { initGpuJs } = await import('../gpujs/backend.js');
    const gpujs = await initGpuJs();
    return { backend: setBackend('gpujs'), reason: `gpujs: requested (gpu.js mode '${gpujs.mode}', from GPUJS_MODE)` };
  }
  if (choice === 'webgpu') {
    await initWebGPU(opts);
    return { backend: setBackend('webgpu'), reason: `webgpu: requested (${describeAdapter(webgpu().adapter)})` };
  }
  try {
    await initWebGPU(opts);
    return { backend: setBackend('webgpu'), reason: `auto → webgpu (${describeAdapter(webgpu().adapter)})` };
  } catch (e) {
    return { backend: setBackend('cpu'), reason: `auto → cpu (${(e as Error).message})` };
  }
}

/* ---------------------------------------------------------------- for benchmarks and leak checks */

/**
 * Computes the given tensors (every pending value when none are given, see fusion.ts), submits all recorded
 * work and waits until the device has finished it (for timing). The submission happens before it returns its
 * promise.
 */
export async function webgpuSync(...tensors: readonly { storage: Storage }[]): Promise<void> {
  const { fusion, queue } = webgpu();
  fusion.compute(tensors.length ? tensors.map((t) => t.storage as GpuStorage) : undefined);
  await queue.sync();
}

/** Bytes held by live tensors and by the buffer pool, and buffers created so far. */
export function webgpuMemory(): PoolStats {
  return webgpu().queue.pool.snapshot();
}

/** Waits for the device, then frees the pool's idle buffers (live tensors keep theirs). */
export async function releasePooledBuffers(): Promise<void> {
  await webgpu().queue.trimPool();
}
