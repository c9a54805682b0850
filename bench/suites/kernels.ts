import * as E from '../../engine/index.js';
import type { DType, Tensor } from '../../engine/index.js';
import { bytesPerElement } from '../../engine/dtype.js';
import { numel } from '../../engine/shape.js';
import type { BenchCase, PreparedCase, Suite } from '../suite.js';

/*
 * Single ops on one backend, on the shapes of ../shared/spec/peers.md, so that the CPU numbers compare with the
 * peers measured there (single-threaded: the CPU backend uses one core) and the WebGPU numbers with the CPU's.
 *
 * On WebGPU an op only records work; each timed call therefore ends with `webgpuSync()`, which submits what was
 * recorded and waits until the device has finished it, so the time is the op's and not its recording's.
 */

export type KernelBackend = 'cpu' | 'webgpu';

const fmt = (shape: readonly number[]) => `[${shape.join(',')}]`;

/** Inputs drawn from a normal distribution (matmul speed can depend on the values, so no zeros). */
function inputs(shapes: readonly (readonly number[])[], dtype: DType, backend: KernelBackend): Tensor[] {
  E.manualSeed(0);
  return shapes.map((s) => E.randn(s, { dtype, backend }));
}

/** Times `op` on fresh inputs of the given shapes; each call's result is freed at once (after the device finished it). */
function timed(backend: KernelBackend, shapes: readonly (readonly number[])[], dtype: DType, op: (...xs: Tensor[]) => Tensor): () => PreparedCase {
  return () => {
    const xs = inputs(shapes, dtype, backend);
    const run =
      backend === 'webgpu'
        ? async () => {
            const y = op(...xs);
            await E.webgpuSync();
            y.dispose();
          }
        : () => op(...xs).dispose();
    return { run, dispose: () => xs.forEach((x) => x.dispose()) };
  };
}

function matmulCase(backend: KernelBackend, n: number, dtype: DType): BenchCase {
  const shape = [n, n];
  return {
    op: 'matmul',
    shape: `${fmt(shape)}×${fmt(shape)}`,
    backend,
    dtype,
    flops: 2 * n ** 3,
    bytes: 3 * n * n * bytesPerElement(dtype),
    prepare: timed(backend, [shape, shape], dtype, E.matmul),
  };
}

function conv2dCase(backend: KernelBackend): BenchCase {
  const [n, c, o, h, w, k] = [8, 64, 64, 32, 32, 3];
  const x = [n, c, h, w];
  const weight = [o, c, k, k];
  return {
    op: 'conv2d',
    shape: `x${fmt(x)} w${fmt(weight)} pad 1`,
    backend,
    dtype: 'float32',
    flops: 2 * n * o * h * w * c * k * k,
    bytes: (numel(x) + numel(weight) + n * o * h * w) * 4,
    prepare: timed(backend, [x, weight], 'float32', (input, kernel) => E.conv2d(input, kernel, null, { padding: 1 })),
  };
}

/** softmax(q·kᵀ/√d)·v with B=1, 8 heads, 256 tokens, 64 dims: 2·T²·D multiply-adds per head and matmul, two matmuls. */
function attentionCase(backend: KernelBackend): BenchCase {
  const [b, heads, t, d] = [1, 8, 256, 64];
  const shape = [b, heads, t, d];
  return {
    op: 'attention',
    shape: `q,k,v${fmt(shape)}`,
    backend,
    dtype: 'float32',
    flops: 4 * b * heads * t * t * d,
    bytes: 4 * numel(shape) * 4,
    prepare: timed(backend, [shape, shape, shape], 'float32', (q, k, v) => E.scaledDotProductAttention(q, k, v)),
  };
}

function softmaxCase(backend: KernelBackend): BenchCase {
  const shape = [16384, 256];
  return {
    op: 'softmax',
    shape: `${fmt(shape)} dim -1`,
    backend,
    dtype: 'float32',
    flops: null,
    bytes: 2 * numel(shape) * 4,
    prepare: timed(backend, [shape], 'float32', (x) => E.softmax(x, -1)),
  };
}

/** The suite named after its backend ('cpu' or 'webgpu'); the WebGPU one needs `initWebGPU()` to have succeeded. */
export function kernelSuite(backend: KernelBackend): Suite {
  return {
    name: backend,
    engine: 'ours',
    cases: () => [
      matmulCase(backend, 256, 'float32'),
      matmulCase(backend, 512, 'float32'),
      matmulCase(backend, 1024, 'float32'),
      // The CPU backend computes float64 too (the WebGPU one has no float64: WGSL lacks it).
      ...(backend === 'cpu' ? [matmulCase(backend, 256, 'float64')] : [matmulCase(backend, 2048, 'float32')]),
      conv2dCase(backend),
      attentionCase(backend),
      softmaxCase(backend),
    ],
  };
}
