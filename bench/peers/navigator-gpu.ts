/*
 * tfjs-backend-webgpu and gpu.js look for WebGPU where a browser has it: `navigator.gpu`, and the GPU* constants
 * as globals. Node 20 has no `navigator`, and gpu.js's own pinned webgpu@0.2.9 does not load on this Debian
 * (GLIBCXX_3.4.32 missing), so both get Dawn from the project's `webgpu` package. Each peer then asks this
 * object for an adapter and opens its own device on it, apart from our engine's device.
 */

let installed: GPU | undefined;

/** Installs `navigator.gpu` once (idempotent) and returns it. */
export async function installNavigatorGpu(): Promise<GPU> {
  if (installed) return installed;
  const { create, globals } = (await import('webgpu')) as { create: (flags: string[]) => GPU; globals: object };
  Object.assign(globalThis, globals);
  installed = create([]);
  const holder = globalThis as { navigator?: { gpu?: GPU } };
  if (holder.navigator) Object.defineProperty(holder.navigator, 'gpu', { value: installed, configurable: true });
  else holder.navigator = { gpu: installed };
  return installed;
}
