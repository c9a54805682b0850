import type { PreparedCase } from '../suite.js';
import { type Graph, onnxModel } from './onnx-model.js';
import { matmulShapes, type OpSpec } from './ops.js';
import { type PeerEngine, randomFloats } from './peer-suite.js';

/*
 * onnxruntime-node (CPU execution provider, MLAS kernels) on one thread: intraOpNumThreads 1, for a
 * single-thread comparison (this VM's second vCPU is sometimes time-shared with the first). Each spec becomes a
 * one-op model, written in-process by onnx-model.ts; weights (a plain matmul's B, conv and layer-norm parameters)
 * are initializers, as in a real model, so the runtime may pre-pack them. A timed call is `session.run`,
 * including its JS↔native tensor handling. Creating the session (graph optimisation) is part of `prepare`.
 */

type Ort = typeof import('onnxruntime-node');

interface Model {
  graph: Graph;
  /** The graph inputs' data, fed at each run. */
  feeds: Record<string, Float32Array>;
}

const io = (name: string, shape: readonly number[]) => ({ name, shape });
const numel = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);
const weight = (name: string, shape: readonly number[], seed: number) => ({ name, shape, data: randomFloats(numel(shape), seed) });

function model(spec: OpSpec): Model {
  switch (spec.op) {
    case 'matmul': {
      const { a, b } = matmulShapes(spec);
      const y = spec.batch === 1 ? [spec.m, spec.n] : [spec.batch, spec.m, spec.n];
      const nodes = [{ op: 'MatMul', inputs: ['A', 'B'], outputs: ['Y'] }];
      // A plain matmul is a layer (B a weight); a batched one multiplies two activations.
      if (spec.batch === 1) return { graph: { nodes, inputs: [io('A', a)], outputs: [io('Y', y)], initializers: [weight('B', b, 2)] }, feeds: { A: randomFloats(numel(a)) } };
      return { graph: { nodes, inputs: [io('A', a), io('B', b)], outputs: [io('Y', y)] }, feeds: { A: randomFloats(numel(a)), B: randomFloats(numel(b), 2) } };
    }
    case 'conv2d': {
      const x = [spec.batch, spec.channels, spec.size, spec.size];
      const attributes = [
        { name: 'kernel_shape', ints: [3, 3] },
        { name: 'pads', ints: [1, 1, 1, 1] },
      ];
      const graph = { nodes: [{ op: 'Conv', inputs: ['X', 'W'], outputs: ['Y'], attributes }], inputs: [io('X', x)], outputs: [io('Y', x)], initializers: [weight('W', [spec.channels, spec.channels, 3, 3], 2)] };
      return { graph, feeds: { X: randomFloats(numel(x)) } };
    }
    case 'softmax': {
      const x = [spec.rows, spec.cols];
      const graph = { nodes: [{ op: 'Softmax', inputs: ['X'], outputs: ['Y'], attributes: [{ name: 'axis', int: -1 }] }], inputs: [io('X', x)], outputs: [io('Y', x)] };
      return { graph, feeds: { X: randomFloats(numel(x)) } };
    }
    case 'layernorm': {
      const x = [spec.rows, spec.cols];
      const attributes = [
        { name: 'axis', int: -1 },
        { name: 'epsilon', float: 1e-5 },
      ];
      const nodes = [{ op: 'LayerNormalization', inputs: ['X', 'scale', 'bias'], outputs: ['Y'], attributes }];
      const graph = { nodes, inputs: [io('X', x)], outputs: [io('Y', x)], initializers: [weight('scale', [spec.cols], 2), weight('bias', [spec.cols], 3)] };
      return { graph, feeds: { X: randomFloats(numel(x)) } };
    }
    case 'attention': {
      // The composite a user exports: K transposed in the graph, as our op takes K untransposed.
      const shape = [spec.batch, spec.heads, spec.tokens, spec.dim];
      const nodes = [
        { op: 'Transpose', inputs: ['K'], outputs: ['Kt'], attributes: [{ name: 'perm', ints: [0, 1, 3, 2] }] },
        { op: 'MatMul', inputs: ['Q', 'Kt'], outputs: ['S'] },
        { op: 'Mul', inputs: ['S', 'scale'], outputs: ['Scaled'] },
        { op: 'Softmax', inputs: ['Scaled'], outputs: ['P'], attributes: [{ name: 'axis', int: -1 }] },
        { op: 'MatMul', inputs: ['P', 'V'], outputs: ['Y'] },
      ];
      const scale = { name: 'scale', shape: [], data: Float32Array.of(1 / Math.sqrt(spec.dim)) };
      const graph = { nodes, inputs: [io('Q', shape), io('K', shape), io('V', shape)], outputs: [io('Y', shape)], initializers: [scale] };
      return { graph, feeds: { Q: randomFloats(numel(shape), 1), K: randomFloats(numel(shape), 2), V: randomFloats(numel(shape), 3) } };
    }
  }
}

async function prepare(ort: Ort, spec: OpSpec): Promise<PreparedCase> {
  const { graph, feeds } = model(spec);
  const session = await ort.InferenceSession.create(onnxModel(graph), {
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  const shapes = new Map(graph.inputs.map((v) => [v.name, v.shape]));
  const tensors = Object.fromEntries(Object.entries(feeds).map(([name, data]) => [name, new ort.Tensor('float32', data, shapes.get(name))]));
  return { run: () => session.run(tensors), dispose: () => session.release() };
}

export function onnxruntimeEngine(): PeerEngine {
  let ort: Ort | undefined;
  return {
    engine: 'onnxruntime',
    backend: () => 'cpu',
    setup: async () => {
      ort = await import('onnxruntime-node');
    },
    prepare: (spec) => {
      if (!ort) throw new Error('onnxruntime: setup has not run');
      return prepare(ort, spec);
    },
  };
}
