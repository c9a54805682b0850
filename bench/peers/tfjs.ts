import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Tensor as TfTensor, Tensor4D } from '@tensorflow/tfjs-core';
import type { PreparedCase } from '../suite.js';
import { installNavigatorGpu } from './navigator-gpu.js';
import { matmulShapes, type OpSpec } from './ops.js';
import { type PeerEngine, randomFloats } from './peer-suite.js';

/*
 * TensorFlow.js 4.22 (tfjs-core) on three of its backends, all in this one process:
 * - cpu: plain JavaScript, one thread;
 * - wasm: XNNPACK with SIMD, one thread (its threads cannot start under Node: tfjs#3830);
 * - webgpu: WGSL on Dawn, through the `navigator.gpu` shim, on a device of its own on the same adapter as ours.
 * Layouts are tfjs's own: conv2d is NHWC (same work as our NCHW case). Layer norm and attention are composites of
 * tfjs ops, as a tfjs user writes them (tfjs has neither op).
 */

type Tfjs = typeof import('@tensorflow/tfjs-core');
type TfjsBackend = 'cpu' | 'wasm' | 'webgpu';

/** The subset of tfjs-backend-webgpu's WebGPUBackend that the timing needs. */
interface WebGPUBackendHandle {
  device: GPUDevice;
  commandEncoder: GPUCommandEncoder | null;
  endComputePassEncoder: () => void;
  submitQueue: () => void;
}

let tfjs: Tfjs | undefined;

async function loadBackend(tf: Tfjs, backend: TfjsBackend): Promise<void> {
  if (backend === 'cpu') await import('@tensorflow/tfjs-backend-cpu');
  if (backend === 'wasm') {
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    // The .wasm files sit beside the package's main script; under Node it reads them from disk.
    const main = createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm');
    wasm.setWasmPaths(join(dirname(main), '/'));
  }
  if (backend === 'webgpu') {
    // The backend registers itself at import only if navigator.gpu exists by then.
    await installNavigatorGpu();
    await import('@tensorflow/tfjs-backend-webgpu');
  }
  // setBackend answers false (it does not throw) when the backend fails to initialise.
  if (!(await tf.setBackend(backend)) || tf.getBackend() !== backend) throw new Error(`tfjs: setBackend('${backend}') failed`);
}

function build(tf: Tfjs, spec: OpSpec): { inputs: TfTensor[]; op: () => TfTensor } {
  const random = (shape: number[]) => tf.tensor(randomFloats(shape.reduce((a, b) => a * b, 1)), shape);
  switch (spec.op) {
    case 'matmul': {
      const { a, b } = matmulShapes(spec);
      const [x, y] = [random(a), random(b)];
      return { inputs: [x, y], op: () => tf.matMul(x, y) };
    }
    case 'conv2d': {
      const x = random([spec.batch, spec.size, spec.size, spec.channels]);
      const w = random([3, 3, spec.channels, spec.channels]);
      return { inputs: [x, w], op: () => tf.conv2d(x as Tensor4D, w as Tensor4D, 1, 'same') };
    }
    case 'softmax': {
      const x = random([spec.rows, spec.cols]);
      return { inputs: [x], op: () => tf.softmax(x, -1) };
    }
    case 'layernorm': {
      const [x, scale, bias] = [random([spec.rows, spec.cols]), random([spec.cols]), random([spec.cols])];
      const op = () =>
        tf.tidy(() => {
          const { mean, variance } = tf.moments(x, -1, true);
          return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, 1e-5))), scale), bias);
        });
      return { inputs: [x, scale, bias], op };
    }
    case 'attention': {
      const shape = [spec.batch * spec.heads, spec.tokens, spec.dim];
      const [q, k, v] = [random(shape), random(shape), random(shape)];
      const op = () => tf.tidy(() => tf.matMul(tf.softmax(tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(spec.dim)), -1), v));
      return { inputs: [q, k, v], op };
    }
  }
}

async function prepare(tf: Tfjs, backend: TfjsBackend, spec: OpSpec): Promise<PreparedCase> {
  // The three tfjs suites share one tfjs engine; the backend that is current when an op runs is the one used.
  await tf.setBackend(backend);
  const { inputs, op } = build(tf, spec);
  const dispose = () => inputs.forEach((x) => x.dispose());
  if (backend !== 'webgpu') return { run: () => op().dispose(), dispose };
  const gpu = tf.backend() as unknown as WebGPUBackendHandle;
  // Flush what tfjs recorded and wait for the device, without reading back: the same end point as ours.
  const run = async () => {
    const y = op();
    if (gpu.commandEncoder) {
      gpu.endComputePassEncoder();
      gpu.submitQueue();
    }
    await gpu.device.queue.onSubmittedWorkDone();
    y.dispose();
  };
  return { run, dispose };
}

export function tfjsEngine(backend: TfjsBackend): PeerEngine {
  const ready = () => {
    if (!tfjs) throw new Error('tfjs: setup has not run');
    return tfjs;
  };
  return {
    engine: `tfjs-${backend}`,
    backend: () => backend,
    setup: async () => {
      tfjs ??= await import('@tensorflow/tfjs-core');
      await loadBackend(tfjs, backend);
    },
    teardown: async () => {
      if (backend !== 'webgpu' || !tfjs?.findBackend('webgpu')) return;
      const gpu = tfjs.findBackend('webgpu') as unknown as WebGPUBackendHandle;
      tfjs.removeBackend('webgpu');
      gpu.device.destroy();
    },
    prepare: (spec) => prepare(ready(), backend, spec),
  };
}
