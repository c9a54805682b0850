import * as E from '../../engine/index.js';
import type { DType, Tensor } from '../../engine/index.js';
import { bytesPerElement } from '../../engine/dtype.js';
import { numel } from '../../engine/shape.js';
import type { BenchCase, PreparedCase, Suite } from '../suite.js';

/*
 * Our plain-TypeScript CPU backend on the shapes of ../shared/spec/peers.md, so the numbers compare with the
 * peers measured there (single-threaded: this backend uses one core).
 */

const fmt = (shape: readonly number[]) => `[${shape.join(',')}]`;

/** Inputs drawn from a normal distribution (matmul speed can depend on the values, so no zeros). */
function inputs(shapes: readonly (readonly number[])[], dtype: DType): Tensor[] {
  E.manualSeed(0);
  return shapes.map((s) => E.randn(s, { dtype, backend: 'cpu' }));
}

/** Times `op` on fresh inputs of the given shapes; each call's result is freed at once. */
function timed(shapes: readonly (readonly number[])[], dtype: DType, op: (...xs: Tensor[]) => Tensor): () => PreparedCase {
  return () => {
    const xs = inputs(shapes, dtype);
    return {
      run: () => op(...xs).dispose(),
      dispose: () => xs.forEach((x) => x.dispose()),
    };
  };
}

function matmulCase(n: number, dtype: DType): BenchCase {
  const shape = [n, n];
  return {
    op: 'matmul',
    shape: `${fmt(shape)}×${fmt(shape)}`,
    backend: 'cpu',
    dtype,
    flops: 2 * n ** 3,
    bytes: 3 * n * n * bytesPerElement(dtype),
    prepare: timed([shape, shape], dtype, E.matmul),
  };
}

function conv2dCase(): BenchCase {
  const [n, c, o, h, w, k] = [8, 64, 64, 32, 32, 3];
  const x = [n, c, h, w];
  const weight = [o, c, k, k];
  return {
    op: 'conv2d',
    shape: `x${fmt(x)} w${fmt(weight)} pad 1`,
    backend: 'cpu',
    dtype: 'float32',
    flops: 2 * n * o * h * w * c * k * k,
    bytes: (numel(x) + numel(weight) + n * o * h * w) * 4,
    prepare: timed([x, weight], 'float32', (input, kernel) => E.conv2d(input, kernel, null, { padding: 1 })),
  };
}

function softmaxCase(): BenchCase {
  const shape = [16384, 256];
  return {
    op: 'softmax',
    shape: `${fmt(shape)} dim -1`,
    backend: 'cpu',
    dtype: 'float32',
    flops: null,
    bytes: 2 * numel(shape) * 4,
    prepare: timed([shape], 'float32', (x) => E.softmax(x, -1)),
  };
}

export const cpuSuite: Suite = {
  name: 'cpu',
  engine: 'ours',
  cases: () => [matmulCase(256, 'float32'), matmulCase(512, 'float32'), matmulCase(1024, 'float32'), matmulCase(256, 'float64'), conv2dCase(), softmaxCase()],
};
