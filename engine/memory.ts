import { AsyncLocalStorage } from 'node:async_hooks';
import type { Tensor } from './tensor.js';

/**
 * Explicit lifetimes. A scope records every tensor created while it is active (across `await` too, through
 * AsyncLocalStorage) and disposes them when it ends, except the tensors found in its return value.
 */
interface Scope {
  readonly created: Tensor[];
}

const scopes = new AsyncLocalStorage<Scope>();

export function trackInScope(t: Tensor): void {
  scopes.getStore()?.created.push(t);
}

/**
 * Computes `t` now where its backend defers work (WebGPU's lazily fused elementwise chains) and returns it. For
 * long-lived tensors such as optimiser state: computed, they no longer hold on to the buffers they came from.
 */
export function realize(t: Tensor): Tensor {
  t.backend.realize?.(t.storage);
  return t;
}

/** Runs `fn`, then disposes every tensor it created that is not part of its result. Works with async `fn`. */
export function scope<T>(fn: () => T): T {
  const s: Scope = { created: [] };
  const result = scopes.run(s, fn);
  if (result instanceof Promise) {
    return result.then((value) => {
      endScope(s, value);
      return value;
    }) as T;
  }
  endScope(s, result);
  return result;
}

function endScope(s: Scope, result: unknown): void {
  const kept = new Set<Tensor>();
  collectTensors(result, kept);
  const outer = scopes.getStore();
  for (const t of s.created) {
    if (kept.has(t)) outer?.created.push(t);
    else if (!t.persistent) t.dispose();
  }
}

function collectTensors(value: unknown, into: Set<Tensor>, seen = new Set<unknown>()): void {
  // Typed arrays (what toArray returns) hold numbers only: walking a million of them costs hundreds of ms.
  if (value === null || typeof value !== 'object' || ArrayBuffer.isView(value) || seen.has(value)) return;
  seen.add(value);
  if ((value as { isTensor?: boolean }).isTensor === true) {
    into.add(value as Tensor);
    return;
  }
  const items = value instanceof Map ? value.values() : Array.isArray(value) ? value : Object.values(value);
  for (const v of items) collectTensors(v, into, seen);
}

/** Live-tensor accounting for the leak detector. */
export interface LiveTensor {
  id: number;
  shape: readonly number[];
  dtype: string;
  backend: string;
  bytes: number;
  site?: string;
}

let recordSites = false;

/**
 * What the leak detector knows of each live tensor. It keeps metadata, not the tensor: a WeakRef would keep
 * its target alive until the current job ends, so a synchronous training loop would hold every tensor it made.
 * A tensor that is garbage-collected without `dispose()` leaves the list through the finalization registry.
 */
const live = new Map<number, LiveTensor>();
const collected = new FinalizationRegistry<number>((id) => live.delete(id));

/** When on, every tensor remembers the stack that created it (slow; for hunting leaks). */
export function setLeakTracking(on: boolean): void {
  recordSites = on;
}

export function noteCreated(t: Tensor): void {
  live.set(t.id, {
    id: t.id,
    shape: t.shape,
    dtype: t.dtype,
    backend: t.storage.backend.name,
    bytes: t.storage.length * (t.dtype === 'float64' ? 8 : 4),
    site: recordSites ? new Error().stack?.split('\n').slice(3, 8).join('\n') : undefined,
  });
  collected.register(t, t.id, t);
}

export function noteDisposed(t: Tensor): void {
  live.delete(t.id);
  collected.unregister(t);
}

/** Tensors not yet disposed (and not yet garbage-collected). */
export function liveTensors(): LiveTensor[] {
  return [...live.values()];
}
