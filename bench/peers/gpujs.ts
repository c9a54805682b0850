import type { PreparedCase } from '../suite.js';
import { installNavigatorGpu } from './navigator-gpu.js';
import type { OpSpec } from './ops.js';
import { type PeerEngine, randomFloats } from './peer-suite.js';

/*
 * gpu.js 2.24.1: kernels written as JavaScript functions, compiled by gpu.js to WGSL (mode 'webgpu') or to
 * WebAssembly (mode 'webasm'). 'webgpu' runs on Dawn through the `navigator.gpu` shim; when no adapter answers,
 * the suite falls back to 'webasm' and its rows say so in their backend column. A timed call is gpu.js's normal
 * use: upload the inputs, run, read the result back into arrays (in 'webgpu' mode every call is a Promise).
 * Kernels are source text, so that no TypeScript transform touches what gpu.js parses. Composite ops chain
 * kernels through those arrays, as a gpu.js user does; the softmax and norm row statistics are a kernel of
 * their own, so that each output element does not redo its row's reduction.
 */

type Kernel = ((...args: unknown[]) => unknown) & { destroy: () => void };
interface GpuJs {
  createKernel: (source: string, settings: object) => Kernel;
  destroy: () => Promise<void>;
}
interface GpuJsModule {
  GPU: { new (settings: { mode: string }): GpuJs; isWebGPUAvailable: () => Promise<boolean> };
  input: (data: Float32Array, size: number[]) => unknown;
  WebGPUContext: { destroy: () => Promise<void> };
}

const MATMUL = `function (a, b) {
  let sum = 0;
  for (let i = 0; i < this.constants.k; i++) sum += a[this.thread.y][i] * b[i][this.thread.x];
  return sum;
}`;

const BATCHED_MATMUL = `function (a, b) {
  let sum = 0;
  for (let i = 0; i < this.constants.k; i++) sum += a[this.thread.z][this.thread.y][i] * b[this.thread.z][i][this.thread.x];
  return sum;
}`;

/** x is [N·C][H][W], w is [O·C][9]; thread z is n·O + o. */
const CONV3X3 = `function (x, w) {
  const n = Math.floor(this.thread.z / this.constants.channels);
  const o = this.thread.z - n * this.constants.channels;
  let sum = 0;
  for (let c = 0; c < this.constants.channels; c++) {
    for (let ky = 0; ky < 3; ky++) {
      const iy = this.thread.y + ky - 1;
      for (let kx = 0; kx < 3; kx++) {
        const ix = this.thread.x + kx - 1;
        if (iy >= 0 && iy < this.constants.size && ix >= 0 && ix < this.constants.size) {
          sum += x[n * this.constants.channels + c][iy][ix] * w[o * this.constants.channels + c][ky * 3 + kx];
        }
      }
    }
  }
  return sum;
}`;

/** Per row: thread x 0 gives the max, thread x 1 the sum of exp(x − max). */
const SOFTMAX_STATS = `function (x) {
  let top = x[this.thread.y][0];
  for (let i = 1; i < this.constants.cols; i++) top = Math.max(top, x[this.thread.y][i]);
  let sum = 0;
  for (let i = 0; i < this.constants.cols; i++) sum += Math.exp(x[this.thread.y][i] - top);
  if (this.thread.x === 0) return top;
  return sum;
}`;

const SOFTMAX_APPLY = `function (x, stats) {
  return Math.exp(x[this.thread.y][this.thread.x] - stats[this.thread.y][0]) / stats[this.thread.y][1];
}`;

/** Per row: thread x 0 gives the mean, thread x 1 the reciprocal standard deviation. */
const NORM_STATS = `function (x) {
  let mean = 0;
  for (let i = 0; i < this.constants.cols; i++) mean += x[this.thread.y][i];
  mean = mean / this.constants.cols;
  let variance = 0;
  for (let i = 0; i < this.constants.cols; i++) variance += (x[this.thread.y][i] - mean) * (x[this.thread.y][i] - mean);
  if (this.thread.x === 0) return mean;
  return 1 / Math.sqrt(variance / this.constants.cols + 0.00001);
}`;

const NORM_APPLY = `function (x, stats, scale, bias) {
  return (x[this.thread.y][this.thread.x] - stats[this.thread.y][0]) * stats[this.thread.y][1] * scale[this.thread.x] + bias[this.thread.x];
}`;

/** q and k are [heads·tokens][dim]; row y belongs to head floor(y / tokens). */
const ATTENTION_SCORES = `function (q, k) {
  const first = Math.floor(this.thread.y / this.constants.tokens) * this.constants.tokens;
  let sum = 0;
  for (let c = 0; c < this.constants.dim; c++) sum += q[this.thread.y][c] * k[first + this.thread.x][c];
  return sum * this.constants.scale;
}`;

const ATTENTION_VALUES = `function (p, v) {
  const first = Math.floor(this.thread.y / this.constants.tokens) * this.constants.tokens;
  let sum = 0;
  for (let j = 0; j < this.constants.tokens; j++) sum += p[this.thread.y][j] * v[first + j][this.thread.x];
  return sum;
}`;

function prepare(gpu: GpuJs, lib: GpuJsModule, spec: OpSpec): PreparedCase {
  const kernels: Kernel[] = [];
  const kernel = (source: string, output: number[], constants: Record<string, number>) => {
    const k = gpu.createKernel(source, { output, constants, precision: 'single', tactic: 'precision' });
    kernels.push(k);
    return k;
  };
  // gpu.js sizes run innermost first: [width, height, depth].
  const random = (size: number[], seed = 1) => lib.input(randomFloats(size.reduce((a, b) => a * b, 1), seed), size);
  const dispose = () => kernels.forEach((k) => k.destroy());
  switch (spec.op) {
    case 'matmul': {
      const { batch, m, k, n } = spec;
      if (batch === 1) {
        const [a, b, mm] = [random([k, m]), random([n, k], 2), kernel(MATMUL, [n, m], { k })];
        return { run: () => mm(a, b), dispose };
      }
      const [a, b, mm] = [random([k, m, batch]), random([n, k, batch], 2), kernel(BATCHED_MATMUL, [n, m, batch], { k })];
      return { run: () => mm(a, b), dispose };
    }
    case 'conv2d': {
      const { batch, channels, size } = spec;
      const x = random([size, size, batch * channels]);
      const w = random([9, channels * channels], 2);
      const conv = kernel(CONV3X3, [size, size, batch * channels], { channels, size });
      return { run: () => conv(x, w), dispose };
    }
    case 'softmax': {
      const x = random([spec.cols, spec.rows]);
      const [stats, apply] = [kernel(SOFTMAX_STATS, [2, spec.rows], { cols: spec.cols }), kernel(SOFTMAX_APPLY, [spec.cols, spec.rows], {})];
      return { run: async () => apply(x, await stats(x)), dispose };
    }
    case 'layernorm': {
      const [x, scale, bias] = [random([spec.cols, spec.rows]), random([spec.cols], 2), random([spec.cols], 3)];
      const [stats, apply] = [kernel(NORM_STATS, [2, spec.rows], { cols: spec.cols }), kernel(NORM_APPLY, [spec.cols, spec.rows], {})];
      return { run: async () => apply(x, await stats(x), scale, bias), dispose };
    }
    case 'attention': {
      const { tokens, dim } = spec;
      const rows = spec.batch * spec.heads * tokens;
      const [q, k, v] = [random([dim, rows], 1), random([dim, rows], 2), random([dim, rows], 3)];
      const scores = kernel(ATTENTION_SCORES, [tokens, rows], { tokens, dim, scale: 1 / Math.sqrt(dim) });
      const [stats, apply] = [kernel(SOFTMAX_STATS, [2, rows], { cols: tokens }), kernel(SOFTMAX_APPLY, [tokens, rows], {})];
      const values = kernel(ATTENTION_VALUES, [dim, rows], { tokens });
      const run = async () => {
        const s = await scores(q, k);
        return values(await apply(s, await stats(s)), v);
      };
      return { run, dispose };
    }
  }
}

export function gpujsEngine(): PeerEngine {
  let lib: GpuJsModule | undefined;
  let gpu: GpuJs | undefined;
  let mode = 'webgpu';
  return {
    engine: 'gpujs',
    backend: () => mode,
    setup: async () => {
      const loaded = (await import('gpu.js')) as unknown as GpuJsModule & { default?: GpuJsModule };
      lib = loaded.default ?? loaded;
      await installNavigatorGpu();
      if (!(await lib.GPU.isWebGPUAvailable())) {
        mode = 'webasm';
        process.stderr.write('gpujs: no WebGPU adapter through navigator.gpu, measuring its webasm mode instead\n');
      }
      gpu = new lib.GPU({ mode });
    },
    teardown: async () => {
      await gpu?.destroy();
      // The device is shared by all gpu.js instances, and gpu.destroy() leaves it open.
      await lib?.WebGPUContext.destroy();
    },
    prepare: (spec) => {
      if (!gpu || !lib) throw new Error('gpujs: setup has not run');
      return prepare(gpu, lib, spec);
    },
  };
}
