import { expect, test } from 'vitest';
import * as E from '../../engine/index.js';
import { RELEASED_TRANSPORT, sampleTimesteps, trainingLosses } from '../../models/transport/index.js';
import { describeGpu } from './helpers.js';

/*
 * The training times on WebGPU: the logit-normal draw is made in float64, which WebGPU lacks, so it runs on the
 * CPU and only t moves over. The numbers are the CPU's, bit for bit, and the generator advances the same.
 */

describeGpu('training times on WebGPU', () => {
  test('logit-normal and uniform t on WebGPU equal the CPU draws from the same generator state', async () => {
    for (const distribution of ['logit-normal', 'uniform'] as const) {
      const onGpu = new E.Generator(5);
      const onCpu = new E.Generator(5);
      const gpu = sampleTimesteps(9, distribution, { backend: 'webgpu', generator: onGpu });
      const cpu = sampleTimesteps(9, distribution, { backend: 'cpu', generator: onCpu });
      expect(gpu.backend.name).toBe('webgpu');
      expect(gpu.dtype).toBe('float32');
      expect(Array.from(await gpu.toArray())).toEqual(Array.from(cpu.toArraySync()));
      expect(onGpu.getState()).toEqual(onCpu.getState());
    }
  });

  test('the training loss draws its own times on WebGPU', async () => {
    const x1 = E.randn([2, 3, 2, 2], { backend: 'webgpu' });
    const y = E.fromArray([0, 1], [2], { dtype: 'int32', backend: 'webgpu' });
    const terms = trainingLosses((xt) => E.mul(xt, 0.5), x1, y, RELEASED_TRANSPORT, { generator: new E.Generator(2) });
    expect(terms.t.backend.name).toBe('webgpu');
    expect(Number.isFinite(await terms.loss.item())).toBe(true);
  });
});
