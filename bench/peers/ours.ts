import * as E from '../../engine/index.js';
import type { Tensor } from '../../engine/index.js';
import type { PreparedCase } from '../suite.js';
import type { OpSpec } from './ops.js';
import { matmulShapes } from './ops.js';
import type { PeerEngine } from './peer-suite.js';

/*
 * Our engine on the shared op specs, on the CPU backend (one thread), on WebGPU, or on the gpu.js backend. Like
 * bench/suites/kernels.ts, a WebGPU call ends with `webgpuSync(y)` for its result y: the time is the device's work, not its
 * recording. A gpu.js call ends by reading its result, as gpu.js is normally used (its webgpu mode reads back
 * after every kernel anyway).
 */

type OursBackend = 'cpu' | 'webgpu' | 'gpujs';

/** The inputs of a spec (normal values, seed 0) and the op on them. */
function build(spec: OpSpec, backend: OursBackend): { inputs: Tensor[]; op: () => Tensor } {
  E.manualSeed(0);
  const randn = (shape: readonly number[]) => E.randn(shape, { dtype: 'float32', backend });
  switch (spec.op) {
    case 'matmul': {
      const { a, b } = matmulShapes(spec);
      const [x, y] = [randn(a), randn(b)];
      return { inputs: [x, y], op: () => E.matmul(x, y) };
    }
    case 'conv2d': {
      const x = randn([spec.batch, spec.channels, spec.size, spec.size]);
      const w = randn([spec.channels, spec.channels, 3, 3]);
      return { inputs: [x, w], op: () => E.conv2d(x, w, null, { padding: 1 }) };
    }
    case 'softmax': {
      const x = randn([spec.rows, spec.cols]);
      return { inputs: [x], op: () => E.softmax(x, -1) };
    }
    case 'layernorm': {
      const [x, scale, bias] = [randn([spec.rows, spec.cols]), randn([spec.cols]), randn([spec.cols])];
      return { inputs: [x, scale, bias], op: () => E.layerNorm(x, spec.cols, scale, bias) };
    }
    case 'attention': {
      const shape = [spec.batch, spec.heads, spec.tokens, spec.dim];
      const [q, k, v] = [randn(shape), randn(shape), randn(shape)];
      return { inputs: [q, k, v], op: () => E.scaledDotProductAttention(q, k, v) };
    }
  }
}

function prepare(spec: OpSpec, backend: OursBackend): PreparedCase {
  const { inputs, op } = build(spec, backend);
  const runs: Record<OursBackend, () => unknown> = {
    cpu: () => op().dispose(),
    webgpu: async () => {
      const y = op();
      await E.webgpuSync(y);
      y.dispose();
    },
    gpujs: async () => {
      const y = op();
      await y.toArray();
      y.dispose();
    },
  };
  const run = runs[backend];
  return { run, dispose: () => inputs.forEach((x) => x.dispose()) };
}

/** Our engine; the WebGPU one needs `initWebGPU()`, the gpu.js one `initGpuJs()` to have succeeded (bench/run.ts opens them). */
export function oursEngine(backend: OursBackend): PeerEngine {
  return { engine: 'ours', backend: () => backend, prepare: (spec) => prepare(spec, backend) };
}
