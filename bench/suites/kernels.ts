import * as E from '../../engine/index.js';
import type { DType, Tensor } from '../../engine/index.js';
import { bytesPerElement } from '../../engine/dtype.js';
import { numel } from '../../engine/shape.js';
import type { BenchCase, PreparedCase, Suite } from '../suite.js';

/*
 * Single ops on one backend, on the shapes of ../shared/spec/peers.md, so that the CPU numbers compare with the
 * peers measured there (single-threaded: the CPU backend uses one core) and the WebGPU numbers with the CPU's.
 *
 * On WebGPU an op only records work; each timed call therefore ends with `webgpuSync(y)`, which computes the
 * result y (elementwise chains are fused lazily, engine/backends/webgpu/fusion.ts), submits what was recorded
 * and waits until the device has finished it, so the time is the op's and not its recording's.
 */

export type KernelBackend = 'cpu' | 'webgpu' | 'gpujs';

const fmt = (shape: readonly number[]) => `[${shape.join(',')}]`;

/** Inputs drawn from a normal distribution (matmul speed can depend on the values, so no zeros). */
function inputs(shapes: readonly (readonly number[])[], dtype: DType, backend: KernelBackend): Tensor[] {
  E.manualSeed(0);
  return shapes.map((s) => E.randn(s, { dtype, backend }));
}

/**
 * Times `op` on fresh inputs of the given shapes; each call's results are freed at once (after the device
 * finished them).
 */
function timed(backend: KernelBackend, shapes: readonly (readonly number[])[], dtype: DType, op: (...xs: Tensor[]) => Tensor | Tensor[]): () => PreparedCase {
  return () => {
    const xs = inputs(shapes, dtype, backend);
    const results = () => [op(...xs)].flat();
    const runs: Record<KernelBackend, () => unknown> = {
      cpu: () => results().forEach((y) => y.dispose()),
      // Only the results are computed: intermediates the op left pending (fused into their kernels) are not.
      webgpu: async () => {
        const ys = results();
        await E.webgpuSync(...ys);
        ys.forEach((y) => y.dispose());
      },
      // gpu.js works on host arrays; reading the results is what waits for its asynchronous (webgpu) mode.
      gpujs: async () => {
        const ys = results();
        await Promise.all(ys.map((y) => y.toArray()));
        ys.forEach((y) => y.dispose());
      },
    };
    return { run: runs[backend], dispose: () => xs.forEach((x) => x.dispose()) };
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

/** The convolution of a VA-VAE block: batch 8, 64 → 64 channels, 32×32, 3×3, padding 1; forward and both gradients. */
const CONV = { n: 8, c: 64, o: 64, h: 32, w: 32, k: 3 };

function conv2dCase(backend: KernelBackend, pass: 'forward' | 'input grad' | 'weight grad'): BenchCase {
  const { n, c, o, h, w, k } = CONV;
  const x = [n, c, h, w];
  const weight = [o, c, k, k];
  const y = [n, o, h, w];
  const opts = { padding: 1 };
  const cases = {
    forward: { op: 'conv2d', inputs: [x, weight], run: (a: Tensor, b: Tensor) => E.conv2d(a, b, null, opts) },
    'input grad': { op: 'conv2d_input_grad', inputs: [y, weight], run: (g: Tensor, b: Tensor) => E.conv2dInputGrad(g, b, [h, w], opts) },
    'weight grad': { op: 'conv2d_weight_grad', inputs: [x, y], run: (a: Tensor, g: Tensor) => E.conv2dWeightGrad(a, g, [k, k], opts) },
  };
  const { op, inputs, run } = cases[pass];
  return {
    op,
    shape: `x${fmt(x)} w${fmt(weight)} pad 1`,
    backend,
    dtype: 'float32',
    // Each pass is the same number of multiply-adds: one per (image, output channel, pixel, input channel, tap).
    flops: 2 * n * o * h * w * c * k * k,
    bytes: (numel(x) + numel(weight) + numel(y)) * 4,
    prepare: timed(backend, inputs, 'float32', run),
  };
}

/**
 * softmax(q·kᵀ/√d)·v with B=1, 8 heads, 256 tokens, 64 dims: 2·T²·D multiply-adds per head and matmul, two
 * matmuls. 'fused' is the op as it runs (a fused kernel where the backend has one), 'composite' its reference
 * definition (matmul, softmax, matmul), and 'backward' the op computing (dq, dk, dv), five such matmuls;
 * 'backward (composite)' gets the same gradients by autograd through the reference definition.
 */
function attentionCase(backend: KernelBackend, variant: 'fused' | 'composite' | 'backward' | 'backward (composite)'): BenchCase {
  const [b, heads, t, d] = [1, 8, 256, 64];
  const shape = [b, heads, t, d];
  const matmulFlops = 2 * b * heads * t * t * d;
  const run: Record<typeof variant, (q: Tensor, k: Tensor, v: Tensor, g: Tensor) => Tensor | Tensor[]> = {
    fused: (q, k, v) => E.scaledDotProductAttention(q, k, v),
    composite: (q, k, v) => E.scaledDotProductAttentionReference(q, k, v),
    // The output is an input of the backward: computing it here adds 2 of the 7 matmuls' worth of work.
    backward: (q, k, v, g) => E.scaledDotProductAttentionBackward(q, k, v, E.scaledDotProductAttention(q, k, v), g),
    'backward (composite)': (q, k, v, g) => {
      const leaves = [q, k, v].map((x) => E.detach(x).requiresGrad_());
      return E.grad([E.scaledDotProductAttentionReference(leaves[0]!, leaves[1]!, leaves[2]!)], leaves, [g]) as Tensor[];
    },
  };
  return {
    op: variant.startsWith('backward') ? `attention ${variant}` : `attention (${variant})`,
    shape: `q,k,v${fmt(shape)}`,
    backend,
    dtype: 'float32',
    flops: (variant.startsWith('backward') ? 7 : 2) * matmulFlops,
    bytes: (variant === 'backward' ? 8 : 4) * numel(shape) * 4,
    prepare: timed(backend, [shape, shape, shape, shape], 'float32', run[variant]),
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

/** The norms of the models: layer norm and RMS norm over a LightningDiT's tokens, group norm over a VA-VAE block. */
function normCase(backend: KernelBackend, norm: 'layer_norm' | 'rms_norm' | 'group_norm'): BenchCase {
  const tokens = [8 * 256, 384];
  const image = [8, 64, 32, 32];
  const cases = {
    layer_norm: { shape: tokens, label: `${fmt(tokens)} over 384`, params: [[384], [384]], run: (x: Tensor, w: Tensor, b: Tensor) => E.layerNorm(x, [384], w, b) },
    rms_norm: { shape: tokens, label: `${fmt(tokens)} over 384`, params: [[384]], run: (x: Tensor, w: Tensor) => E.rmsNorm(x, [384], w) },
    group_norm: { shape: image, label: `${fmt(image)} 32 groups`, params: [[64], [64]], run: (x: Tensor, w: Tensor, b: Tensor) => E.groupNorm(x, 32, w, b) },
  };
  const { shape, label, params, run } = cases[norm];
  return {
    op: norm,
    shape: label,
    backend,
    dtype: 'float32',
    flops: null,
    bytes: 2 * numel(shape) * 4,
    prepare: timed(backend, [shape, ...params], 'float32', run as (...xs: Tensor[]) => Tensor),
  };
}

/** An elementwise chain as a SwiGLU MLP computes it between its matmuls: silu(a)·b + c, over LightningDiT's hidden units. */
function elementwiseChainCase(backend: KernelBackend): BenchCase {
  const shape = [8 * 256, 1024];
  return {
    op: 'silu(a)·b+c',
    shape: fmt(shape),
    backend,
    dtype: 'float32',
    flops: null,
    bytes: 4 * numel(shape) * 4,
    prepare: timed(backend, [shape, shape, shape], 'float32', (a, b, c) => E.add(E.mul(E.silu(a), b), c)),
  };
}

/** The suite named after its backend; the WebGPU one needs `initWebGPU()`, the gpu.js one `initGpuJs()` to have succeeded. */
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
      conv2dCase(backend, 'forward'),
      conv2dCase(backend, 'input grad'),
      conv2dCase(backend, 'weight grad'),
      attentionCase(backend, 'fused'),
      attentionCase(backend, 'composite'),
      attentionCase(backend, 'backward'),
      attentionCase(backend, 'backward (composite)'),
      softmaxCase(backend),
      normCase(backend, 'layer_norm'),
      normCase(backend, 'rms_norm'),
      normCase(backend, 'group_norm'),
      elementwiseChainCase(backend),
    ],
  };
}
