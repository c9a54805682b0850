import type { DType, TypedArray } from '../../dtype.js';
import { EngineError } from '../../errors.js';
import type { AdapterSummary } from './context.js';
import { BufferPool, type GpuStorage, sizeClass } from './buffers.js';
import { PARAM_BYTES } from './params.js';

/**
 * Command batching. A kernel call records one dispatch into the open compute pass and returns at once; the
 * pass is submitted when a value is read back or after `MAX_BATCH` dispatches, so the GPU starts on a long
 * program while JavaScript keeps recording. Pipelines and bind groups are cached by key (creating a bind group
 * costs ~35 µs in dawn.node, more than recording the dispatch). Each dispatch's parameters go into one uniform
 * arena per batch, bound with a dynamic offset, so bind groups depend only on the storage buffers and are reused
 * across steps of a training loop.
 *
 * Waiting: while a JS promise on the device is pending (mapAsync, onSubmittedWorkDone), dawn.node polls the
 * device in a setImmediate loop that keeps one core busy. On a GPU that costs nothing, but on lavapipe the
 * kernels run on the same CPU cores and the spin takes one of them. Measured on the 2-vCPU CI machine (other
 * jobs running), awaiting at once vs sleeping first: 100 exp() over 2^20 floats 675–1407 ms vs 348–395 ms in a
 * bare script; through this queue, matmul 1024³ 348–438 vs 278–346 ms, softmax (16384, 256) 351–373 vs
 * 268–328 ms, exp over 2^22 floats 76–89 vs 50–58 ms. So on a CPU adapter `wait` first sleeps through part of
 * the expected device time: each dispatch's `cost` times a rate that is recalibrated after every wait (raised
 * when the work outlasted the sleep, lowered when it was done on waking), the sleep capped so that a bad estimate
 * costs little. On GPUs it awaits at once.
 *
 * Errors: a validation error (say, WGSL that does not compile) makes Dawn drop the whole command buffer it was
 * in, so every dispatch of that batch is lost; the error is thrown by the next read or sync.
 */

export interface Dispatch {
  /** Pipeline cache key: equal keys must mean equal WGSL. */
  key: string;
  /** The WGSL source; called only when the key is new. */
  code: () => string;
  /** Bound read-only at bindings 0..r−1. */
  reads: readonly GpuStorage[];
  /** Bound read_write at bindings r..r+w−1 (never also among `reads`). */
  writes: readonly GpuStorage[];
  /** Packed uniform block, bound at binding r+w (see params.ts). */
  params: Uint32Array;
  /** Workgroup counts; each ≤ 65535 (use `grid()` for long 1-D launches). */
  workgroups: readonly [number, number?, number?];
  /** Rough amount of work in element-operations, for the wait estimate on CPU adapters. */
  cost: number;
}

/** Dispatches per submit: a balance between submit overhead and letting the GPU start early. */
const MAX_BATCH = 64;
/** Fixed cost of a dispatch, in the same units as `Dispatch.cost` (≈ 25 µs on lavapipe). */
const DISPATCH_COST = 10_000;
const MAX_BIND_GROUPS = 4096;
/* The wait model's knobs: sleep only for waits worth a timer, never most of an uncertain estimate. */
const MIN_SLEEP_MS = 2;
const SLEEP_FRACTION = 0.6;
const MAX_SLEEP_MS = 2000;
const MIN_MS_PER_COST = 1e-8;
const MAX_MS_PER_COST = 1e-4;

/** Splits `n` workgroups over x and y so that neither exceeds the per-dimension limit. */
export function grid(n: number): [number, number] {
  if (n <= 65535) return [n, 1];
  const y = Math.ceil(n / 65535);
  return [Math.ceil(n / y), y];
}

interface Layout {
  bindGroupLayout: GPUBindGroupLayout;
  pipelineLayout: GPUPipelineLayout;
}

export class GpuQueue {
  readonly pool: BufferPool;
  /** Index of the batch being recorded; it grows by one at each submit. */
  batch = 0;

  private encoder: GPUCommandEncoder | undefined;
  private pass: GPUComputePassEncoder | undefined;
  private lastPipeline: GPUComputePipeline | undefined;
  private pending = 0;
  private pendingCost = 0;
  private readonly paramStride: number;
  private readonly paramWords: Uint32Array;
  private readonly paramBuffer: GPUBuffer;
  private readonly pipelines = new Map<string, GPUComputePipeline>();
  private readonly layouts = new Map<string, Layout>();
  private readonly bindGroups = new Map<string, GPUBindGroup>();
  private readonly staging = new Map<number, GPUBuffer[]>();
  private readonly errors: string[] = [];

  /** Called before a dispatch or a read uses storages, so that pending fused values are computed (fusion.ts). */
  beforeUse: (reads: readonly GpuStorage[], writes: readonly GpuStorage[]) => void = () => {};

  /** 'sleep' (the default on CPU adapters) or 'spin' (await at once, the default on GPUs). */
  waitStrategy: 'sleep' | 'spin';
  /* The wait model of the 'sleep' strategy: predicted end of the submitted work, and ms per unit of cost. */
  private busyUntil = 0;
  private windowStart = -1;
  private msPerCost = 2.5e-6;

  constructor(
    private readonly device: GPUDevice,
    private readonly adapter: AdapterSummary,
  ) {
    // A tensor is one buffer bound whole, so it must fit both the binding and the buffer limit.
    const { maxStorageBufferBindingSize = 2 ** 27, maxBufferSize = 2 ** 28 } = adapter.limits;
    this.pool = new BufferPool(device, Math.min(maxStorageBufferBindingSize, maxBufferSize));
    this.paramStride = Math.max(PARAM_BYTES, adapter.limits.minUniformBufferOffsetAlignment ?? 256);
    this.paramWords = new Uint32Array((MAX_BATCH * this.paramStride) / 4);
    this.paramBuffer = device.createBuffer({ size: MAX_BATCH * this.paramStride, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
    this.waitStrategy = adapter.isCpu ? 'sleep' : 'spin';
  }

  /** Records one dispatch (nothing runs until the batch is submitted). */
  dispatch(d: Dispatch): void {
    const [x, y = 1, z = 1] = d.workgroups;
    if (x === 0 || y === 0 || z === 0) return;
    this.beforeUse(d.reads, d.writes);
    for (const w of d.writes) {
      if (d.reads.includes(w)) throw new EngineError(`WebGPU kernel '${d.key}': a buffer is bound both read-only and read_write`);
    }
    const layoutKey = `${d.reads.length},${d.writes.length}`;
    const pipeline = this.pipeline(d, layoutKey);
    const bindGroup = this.bindGroup(layoutKey, d.reads, d.writes);
    if (!this.pass) {
      this.encoder = this.device.createCommandEncoder();
      this.pass = this.encoder.beginComputePass();
      this.lastPipeline = undefined;
    }
    const slot = this.pending++;
    this.paramWords.set(d.params, (slot * this.paramStride) / 4);
    if (pipeline !== this.lastPipeline) this.pass.setPipeline((this.lastPipeline = pipeline));
    this.pass.setBindGroup(0, bindGroup, [slot * this.paramStride]);
    this.pass.dispatchWorkgroups(x, y, z);
    this.pendingCost += d.cost + DISPATCH_COST;
    if (this.pending === MAX_BATCH) this.flush();
  }

  /** Submits everything recorded so far (plus `copies`, recorded after the compute pass). */
  flush(copies?: (encoder: GPUCommandEncoder) => void): void {
    if (!this.encoder && !copies) return;
    const encoder = this.encoder ?? this.device.createCommandEncoder();
    this.pass?.end();
    copies?.(encoder);
    if (this.pending) this.device.queue.writeBuffer(this.paramBuffer, 0, this.paramWords, 0, (this.pending * this.paramStride) / 4);
    this.device.queue.submit([encoder.finish()]);
    this.noteSubmitted(this.pendingCost);
    this.encoder = undefined;
    this.pass = undefined;
    this.pending = 0;
    this.pendingCost = 0;
    this.batch++;
  }

  /**
   * Validation errors arrive asynchronously (a WGSL compile error shows up after the dispatch that used it was
   * recorded); they are kept here and thrown by the next read or sync, so the failing program stops there.
   */
  noteError(message: string): void {
    this.errors.push(message);
  }

  private throwErrors(): void {
    if (!this.errors.length) return;
    const first = this.errors[0]!;
    const more = this.errors.length - 1;
    this.errors.length = 0;
    throw new EngineError(`WebGPU: ${first}${more ? ` (and ${more} more errors)` : ''}`);
  }

  /** Copies `length` elements from `offset` back to the host: one staging copy, one map. */
  async read(s: GpuStorage, offset: number, length: number): Promise<TypedArray> {
    const bytes = length * 4;
    const out = s.dtype === 'int32' ? new Int32Array(length) : new Float32Array(length);
    if (length === 0) return out;
    this.beforeUse([s], []);
    const capacity = sizeClass(bytes);
    const staging =
      this.staging.get(capacity)?.pop() ?? this.device.createBuffer({ size: capacity, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    this.flush((encoder) => encoder.copyBufferToBuffer(s.buffer, offset * 4, staging, 0, bytes));
    await this.wait(() => staging.mapAsync(GPUMapMode.READ, 0, bytes));
    new Uint8Array(out.buffer).set(new Uint8Array(staging.getMappedRange(0, bytes)));
    staging.unmap();
    let list = this.staging.get(capacity);
    if (!list) this.staging.set(capacity, (list = []));
    list.push(staging);
    this.throwErrors();
    return out;
  }

  /** A temporary buffer for a kernel's intermediate results; give it back with `dropScratch` once recorded. */
  scratch(like: GpuStorage, dtype: DType, length: number): GpuStorage {
    return this.pool.alloc(like.backend, dtype, length, this.batch, false);
  }

  dropScratch(s: GpuStorage): void {
    this.pool.release(s, this.batch);
  }

  /** Submits pending work and waits until the device has finished all of it. */
  async sync(): Promise<void> {
    this.flush();
    await this.wait(() => this.device.queue.onSubmittedWorkDone());
    this.throwErrors();
  }

  /** Waits for the device, then destroys pooled buffers (live tensors keep theirs). */
  async trimPool(): Promise<void> {
    await this.sync();
    this.pool.trim(this.batch);
    this.bindGroups.clear();
  }

  /** Before the device is destroyed: nothing may still run (lavapipe can crash when the process exits mid-work). */
  async shutdown(): Promise<void> {
    await this.sync();
    this.pool.trim(this.batch);
    for (const list of this.staging.values()) list.forEach((b) => b.destroy());
    this.staging.clear();
    this.bindGroups.clear();
    this.paramBuffer.destroy();
  }

  /* ---------------------------------------------------------------- caches */

  private layout(key: string, reads: number, writes: number): Layout {
    let layout = this.layouts.get(key);
    if (!layout) {
      const entries: GPUBindGroupLayoutEntry[] = [];
      for (let i = 0; i < reads + writes; i++) {
        entries.push({ binding: i, visibility: GPUShaderStage.COMPUTE, buffer: { type: i < reads ? 'read-only-storage' : 'storage' } });
      }
      entries.push({
        binding: reads + writes,
        visibility: GPUShaderStage.COMPUTE,
        buffer: { type: 'uniform', hasDynamicOffset: true, minBindingSize: PARAM_BYTES },
      });
      const bindGroupLayout = this.device.createBindGroupLayout({ entries });
      layout = { bindGroupLayout, pipelineLayout: this.device.createPipelineLayout({ bindGroupLayouts: [bindGroupLayout] }) };
      this.layouts.set(key, layout);
    }
    return layout;
  }

  private pipeline(d: Dispatch, layoutKey: string): GPUComputePipeline {
    const key = `${layoutKey}|${d.key}`;
    let pipeline = this.pipelines.get(key);
    if (!pipeline) {
      const module = this.device.createShaderModule({ code: d.code(), label: d.key });
      pipeline = this.device.createComputePipeline({
        label: d.key,
        layout: this.layout(layoutKey, d.reads.length, d.writes.length).pipelineLayout,
        compute: { module, entryPoint: 'main' },
      });
      this.pipelines.set(key, pipeline);
    }
    return pipeline;
  }

  private bindGroup(layoutKey: string, reads: readonly GpuStorage[], writes: readonly GpuStorage[]): GPUBindGroup {
    let key = layoutKey + '|';
    for (const s of reads) key += s.id + ',';
    for (const s of writes) key += s.id + ',';
    let group = this.bindGroups.get(key);
    if (!group) {
      const entries: GPUBindGroupEntry[] = [...reads, ...writes].map((s, i) => ({ binding: i, resource: { buffer: s.buffer } }));
      entries.push({ binding: entries.length, resource: { buffer: this.paramBuffer, size: PARAM_BYTES } });
      group = this.device.createBindGroup({ layout: this.layout(layoutKey, reads.length, writes.length).bindGroupLayout, entries });
      if (this.bindGroups.size >= MAX_BIND_GROUPS) {
        // Drop the oldest quarter; Map iterates in insertion order.
        let n = MAX_BIND_GROUPS / 4;
        for (const k of this.bindGroups.keys()) {
          this.bindGroups.delete(k);
          if (--n === 0) break;
        }
      }
      this.bindGroups.set(key, group);
    }
    return group;
  }

  /* ---------------------------------------------------------------- waiting (see the note at the top) */

  private noteSubmitted(cost: number): void {
    const now = performance.now();
    if (this.windowStart < 0) {
      this.windowStart = now;
      this.busyUntil = now;
    }
    this.busyUntil = Math.max(this.busyUntil, now) + cost * this.msPerCost;
  }

  private async wait(done: () => Promise<void>): Promise<void> {
    if (this.waitStrategy === 'spin') return done();
    const expected = this.busyUntil - performance.now();
    // Sleep through part of the expected time (estimates are rough), the rest is spent in dawn.node's polling.
    const slept = expected > MIN_SLEEP_MS;
    if (slept) await new Promise((r) => setTimeout(r, Math.min(expected * SLEEP_FRACTION, MAX_SLEEP_MS)));
    const awaitStart = performance.now();
    await done();
    const end = performance.now();
    if (this.windowStart >= 0) {
      const predicted = this.busyUntil - this.windowStart;
      const measured = end - this.windowStart;
      if (end - awaitStart > MIN_SLEEP_MS && measured > predicted) {
        // Still busy after the sleep: the rate was too low. Move it toward the truth, at most doubling.
        this.msPerCost *= Math.min(2, Math.sqrt(measured / Math.max(predicted, 1e-3)));
      } else if (slept) {
        // Done on waking: the sleep may have been too long.
        this.msPerCost *= 0.7;
      }
      this.msPerCost = Math.min(MAX_MS_PER_COST, Math.max(MIN_MS_PER_COST, this.msPerCost));
    }
    this.windowStart = -1;
    this.busyUntil = end;
  }
}
