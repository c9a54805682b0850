import { expect, test } from 'vitest';
import * as E from '../../engine/index.js';
import { BufferPool, MAX_U32_INDEX, checkStorageSize } from '../../engine/backends/webgpu/buffers.js';
import { webgpu } from '../../engine/backends/webgpu/context.js';
import { ParamLayout } from '../../engine/backends/webgpu/params.js';
import { describeGpu } from './helpers.js';

/*
 * Device limits: the device gets the adapter's real limits; a tensor larger than one storage binding is refused
 * with its size, the limit and the op; counts and offsets that 32-bit WGSL indices cannot hold throw instead of
 * wrapping. Small limits are simulated with a pool of its own, so nothing large is ever allocated.
 */

test('element counts past 2^32 − 1 are refused even where the binding limit would allow them', () => {
  expect(() => checkStorageSize('float32', MAX_U32_INDEX, 2 ** 40)).not.toThrow();
  expect(() => checkStorageSize('float32', MAX_U32_INDEX + 1, 2 ** 40)).toThrow(/float32 tensor of 4294967296 elements has more than 2\^32 − 1/);
});

test('kernel parameters are checked, not wrapped', () => {
  const layout = new ParamLayout({ off: 'u32', low: 'i32', strides: 'list' });
  const words = layout.pack({ off: 2 ** 32 - 1, low: -(2 ** 31), strides: [1, -1] });
  expect(Array.from(words.subarray(0, 2))).toEqual([2 ** 32 - 1, 2 ** 31]);
  // A negative stride is two's complement on purpose: WGSL's u32 arithmetic wraps back to the right element.
  expect(Array.from(words.subarray(4, 6))).toEqual([1, 2 ** 32 - 1]);
  expect(() => layout.pack({ off: 2 ** 32, low: 0, strides: [] })).toThrow(/parameter 'off' = 4294967296 does not fit in u32/);
  expect(() => layout.pack({ off: 0, low: 2 ** 31, strides: [] })).toThrow(/parameter 'low' = 2147483648 does not fit in i32/);
  expect(() => layout.pack({ off: 0, low: 0, strides: [0, 2 ** 33] })).toThrow(/parameter 'strides\[1\]' = 8589934592 does not fit in u32/);
});

describeGpu('limits of the WebGPU device', () => {
  test('the device is created with the adapter’s storage limits, not the defaults', () => {
    const { adapter, device } = webgpu();
    for (const name of ['maxStorageBufferBindingSize', 'maxBufferSize', 'maxStorageBuffersPerShaderStage'] as const) {
      expect(device.limits[name], name).toBe(adapter.limits[name]);
    }
  });

  test('a pool with a small binding limit gives buffers up to the limit and refuses beyond it, naming both', () => {
    const limit = 4096;
    const pool = new BufferPool(webgpu().device, limit);
    const backend = E.getBackend('webgpu');
    const atLimit = pool.alloc(backend, 'float32', limit / 4, 0, false);
    expect(atLimit.capacity).toBe(limit);
    expect(() => pool.alloc(backend, 'int32', limit / 4 + 1, 0, false)).toThrow(
      /int32 tensor of 1025 elements \(4100 B\) exceeds this device's maxStorageBufferBindingSize of 4096 B/,
    );
    pool.release(atLimit, 0);
    pool.trim(Infinity);
  });

  test('an op whose output is above the real binding limit names itself, the shape, the size and the limit', () => {
    const limit = webgpu().adapter.limits.maxStorageBufferBindingSize!;
    const n = limit / 4 + 1;
    E.scope(() => {
      const one = E.ones([1], { backend: 'webgpu' });
      // A broadcast view costs nothing; the product would need a buffer above the limit.
      const huge = E.expand(one, [n]);
      expect(() => E.mul(huge, huge)).toThrow(new RegExp(`^mul: output 0 of shape \\[${n}\\]: WebGPU: a float32 tensor of ${n} elements \\(${n * 4} B\\) exceeds this device's maxStorageBufferBindingSize of ${limit} B`));
      expect(() => E.zeros([n], { backend: 'webgpu' })).toThrow(/^full: output 0 of shape/);
    });
  });
});
