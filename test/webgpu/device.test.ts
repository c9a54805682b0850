import { expect, test } from 'vitest';
import * as E from '../../engine/index.js';
import { type KernelOp, run1 } from '../../engine/op.js';
import { webgpuKernelNames } from '../../engine/backends/webgpu/backend.js';
import { webgpu } from '../../engine/backends/webgpu/context.js';
import { backendChoiceFromEnv, describeAdapter, selectBackend, webgpuMemory, webgpuSync } from '../../engine/backends/webgpu/device.js';
import { describeGpu, toGpu } from './helpers.js';

/*
 * The device and its runtime: adapter, backend selection, dtype rules, kernel coverage, batching, the buffer
 * pool (no leaks, reuse, the upload ordering rule) and error reporting.
 */

test('ENGINE_BACKEND is parsed (default auto) and bad values are refused', () => {
  expect(backendChoiceFromEnv({})).toBe('auto');
  expect(backendChoiceFromEnv({ ENGINE_BACKEND: 'WebGPU' })).toBe('webgpu');
  expect(backendChoiceFromEnv({ ENGINE_BACKEND: 'cpu' })).toBe('cpu');
  expect(() => backendChoiceFromEnv({ ENGINE_BACKEND: 'cuda' })).toThrow(/cpu, webgpu, gpujs or auto/);
});

describeGpu('device', () => {
  test('the adapter is described, with its limits requested', () => {
    const { adapter, device } = webgpu();
    expect(describeAdapter(adapter)).toContain(adapter.description || adapter.device);
    // The device got the adapter's limits, not WebGPU's defaults (8 storage buffers, 16 KiB workgroup memory).
    expect(device.limits.maxStorageBuffersPerShaderStage).toBe(adapter.limits.maxStorageBuffersPerShaderStage);
    expect(device.limits.maxComputeWorkgroupStorageSize).toBe(adapter.limits.maxComputeWorkgroupStorageSize);
    expect(E.listBackends()).toContain('webgpu');
  });

  test('selectBackend switches the default backend and says why', async () => {
    try {
      const auto = await selectBackend('auto', { verbose: false });
      expect(auto.backend.name).toBe('webgpu');
      expect(auto.reason).toMatch(/^auto → webgpu/);
      expect(E.zeros([2]).backend.name).toBe('webgpu');
      const cpu = await selectBackend('cpu');
      expect(cpu.backend.name).toBe('cpu');
      expect(E.zeros([2]).backend.name).toBe('cpu');
    } finally {
      E.setBackend('cpu');
    }
  });

  test('float64 is refused with a clear error (WGSL has no f64)', () => {
    expect(() => E.fromArray(new Float64Array([1, 2]), [2], { backend: 'webgpu' })).toThrow(/float64.*WGSL has no f64/);
    const x = E.fromArray([1, 2], [2], { backend: 'webgpu' });
    expect(() => E.cast(x, 'float64')).toThrow(/float64/);
  });

  test('every kernel op of the registry has a WebGPU kernel', () => {
    const kernels = new Set(webgpuKernelNames());
    const missing = E.listOps()
      .filter((op) => op.kind === 'kernel' && !kernels.has(op.name))
      .map((op) => op.name);
    expect(missing).toEqual([]);
  });

  test('an op without a WebGPU kernel raises MissingKernelError (no silent CPU fallback)', () => {
    // Not registered (the registry must stay the engine's own), but run exactly as a registered op would be.
    const def: KernelOp<object> = { name: 'test_webgpu_kernelless', family: 'elementwise', kind: 'kernel', infer: ([x]) => [{ shape: x!.shape, dtype: x!.dtype }] };
    const x = E.fromArray([1], [1], { backend: 'webgpu' });
    expect(() => run1(def, [x], {})).toThrow(E.MissingKernelError);
    expect(() => run1(def, [x], {})).toThrow(/backend 'webgpu'/);
  });

  test('work beyond one batch of dispatches is submitted in order', async () => {
    let x = E.fromArray([0, 1, 2], [3], { backend: 'webgpu' });
    for (let i = 0; i < 300; i++) x = E.add(x, 1);
    expect(Array.from(await x.toArray())).toEqual([300, 301, 302]);
  });

  test('an upload never lands in a buffer that recorded work still reads', async () => {
    const a = E.fromArray([1, 2, 3, 4], [4], { backend: 'webgpu' });
    const doubled = E.mul(a, 2); // recorded, not yet submitted
    a.dispose(); // a's buffer goes back to the pool while `doubled` still reads it
    const b = E.fromArray([100, 200, 300, 400], [4], { backend: 'webgpu' });
    expect(Array.from(await doubled.toArray())).toEqual([2, 4, 6, 8]);
    expect(Array.from(await b.toArray())).toEqual([100, 200, 300, 400]);
  });

  test('reading a strided view reads its elements in order', async () => {
    const x = toGpu(E.fromArray([0, 1, 2, 3, 4, 5], [2, 3]));
    expect(Array.from(await E.transpose(x).toArray())).toEqual([0, 3, 1, 4, 2, 5]);
    expect(Array.from(await E.narrow(x, 1, 1, 2).toArray())).toEqual([1, 2, 4, 5]);
  });

  test('dispose returns storage to the pool', async () => {
    const before = webgpuMemory().liveBytes;
    const t = E.zeros([1000], { backend: 'webgpu' });
    expect(webgpuMemory().liveBytes).toBeGreaterThan(before);
    t.dispose();
    expect(webgpuMemory().liveBytes).toBe(before);
  });

  test('repeated work inside scope() keeps live bytes flat and reuses pooled buffers', async () => {
    const w = E.randn([33, 17], { backend: 'webgpu' });
    const step = () =>
      E.scope(async () => {
        const x = E.randn([65, 33], { backend: 'webgpu' }).requiresGrad_();
        const y = E.softmax(E.matmul(E.tanh(x), w), -1);
        const [g] = E.grad([E.sum(E.mul(y, y))], [x]);
        return (await g!.toArray()).length;
      });
    // Two warm-up steps: uploads only take buffers released in an earlier batch, so the pool fills over two.
    await step();
    await step();
    const live = webgpuMemory().liveBytes;
    const created = webgpuMemory().created;
    for (let i = 0; i < 5; i++) {
      expect(await step()).toBe(65 * 33);
      expect(webgpuMemory().liveBytes).toBe(live);
    }
    expect(webgpuMemory().created).toBe(created);
  });

  test('a WGSL error surfaces as an EngineError at the next read or sync', async () => {
    const out = E.zeros([4], { backend: 'webgpu' });
    webgpu().queue.dispatch({
      key: 'test:broken',
      code: () => 'this is not WGSL',
      reads: [],
      writes: [out.storage as never],
      params: new Uint32Array(4),
      workgroups: [1],
      cost: 1,
    });
    await expect(webgpuSync()).rejects.toThrow(/WebGPU: .*(error|parse)/i);
    // The batch holding the broken dispatch is lost, but the queue keeps working for new work.
    const fresh = E.fromArray([1, 2], [2], { backend: 'webgpu' });
    expect(Array.from(await E.add(fresh, 1).toArray())).toEqual([2, 3]);
  });
});
