import { afterEach, expect, test, vi } from 'vitest';
import * as E from '../../engine/index.js';
import type { Tensor } from '../../engine/index.js';
import { checkAnomalies, pendingAnomalyChecks } from '../../engine/backends/webgpu/anomaly.js';
import { webgpu } from '../../engine/backends/webgpu/context.js';
import { cpuTensor, describeGpu, toGpu } from './helpers.js';

/*
 * Anomaly mode on WebGPU: each op's outputs are checked on the device and the flags read back once, when a value
 * is read. The first op producing NaN/±∞ is named with its phase and shapes, as on the CPU; a clean network
 * passes; and the checks add dispatches, never a readback per op.
 */

const gpu = (values: number[], shape: number[]) => E.fromArray(values, shape, { backend: 'webgpu' });

afterEach(async () => {
  E.setAnomalyMode(false);
  vi.restoreAllMocks();
  // A failed test must not leave its checks to the next one.
  await checkAnomalies().catch(() => undefined);
});

/** A small MLP's loss: linear, tanh, linear, mean square; its parameters are leaves that require grad. */
function mlpLoss(x: Tensor, w1: Tensor, w2: Tensor): Tensor {
  const h = E.tanh(E.matmul(x, w1));
  return E.mean(E.mul(E.matmul(h, w2), E.matmul(h, w2)));
}

describeGpu('anomaly mode on WebGPU', () => {
  test('the log of a negative number is named in the forward, when the result is read', async () => {
    E.setAnomalyMode(true);
    const x = gpu([1, -1, 2], [3]);
    const y = E.exp(E.log(x));
    await expect(y.toArray()).rejects.toThrow(/^anomaly: log \(forward\) produced NaN in an output of shape \[3\] \(input shapes \[3\]\)$/);
    expect(pendingAnomalyChecks()).toBe(0);
  });

  test('a NaN or infinity made only by a backward rule is named with phase backward', async () => {
    E.setAnomalyMode(true);
    const x = gpu([0, 1, 4], [3]).requiresGrad_();
    const y = E.sum(E.sqrt(x));
    await expect(y.item()).resolves.toBe(3);
    y.backward();
    await expect(x.grad!.toArray()).rejects.toThrow(/^anomaly: sqrt \(backward\) produced Infinity in an output of shape \[3\]/);
  });

  test('the first op to go wrong is named, not the ones its NaN flows into', async () => {
    E.setAnomalyMode(true);
    const x = gpu([4, 1], [2]);
    const y = E.sum(E.mul(E.div(x, gpu([0, 1], [2])), gpu([2, 2], [2])));
    await expect(checkAnomalies()).rejects.toThrow(/^anomaly: div \(forward\) produced Infinity .*input shapes \[2\], \[2\]/);
    y.dispose();
  });

  test('a clean network trains a step without a false alarm, and each read checks once', async () => {
    E.setAnomalyMode(true);
    const queue = webgpu().queue;
    const reads = vi.spyOn(queue, 'read');
    const dispatches = vi.spyOn(queue, 'dispatch');
    const x = toGpu(cpuTensor([8, 5], 1));
    const w1 = toGpu(cpuTensor([5, 16], 2, { min: -0.5, max: 0.5 })).requiresGrad_();
    const w2 = toGpu(cpuTensor([16, 3], 3, { min: -0.5, max: 0.5 })).requiresGrad_();
    reads.mockClear();
    dispatches.mockClear();

    const loss = mlpLoss(x, w1, w2);
    loss.backward();
    // Forward and backward record their checks, and nothing is read back yet: batching is kept.
    expect(reads).not.toHaveBeenCalled();
    const checks = dispatches.mock.calls.filter(([d]) => d.key === 'anomaly:check').length;
    expect(checks).toBe(pendingAnomalyChecks());
    expect(checks).toBeGreaterThan(10);
    expect(dispatches.mock.calls.length).toBeGreaterThan(checks);

    const value = await loss.item();
    expect(Number.isFinite(value)).toBe(true);
    // One read for the loss, one for the flags of every check so far.
    expect(reads).toHaveBeenCalledTimes(2);
    expect(pendingAnomalyChecks()).toBe(0);
    await expect(w1.grad!.toArray()).resolves.toHaveLength(80);
    expect(reads).toHaveBeenCalledTimes(3);
  });

  test('without anomaly mode nothing is recorded', async () => {
    const dispatches = vi.spyOn(webgpu().queue, 'dispatch');
    const y = E.log(gpu([-1], [1]));
    expect(dispatches.mock.calls.some(([d]) => d.key === 'anomaly:check')).toBe(false);
    expect(Number.isNaN((await y.toArray())[0])).toBe(true);
  });
});
