import type { BenchCase, PreparedCase, Suite } from '../suite.js';
import { bytesOf, flopsOf, type OpSpec, shapeLabel } from './ops.js';

/** One engine's way of running the shared op specs (see ops.ts). */
export interface PeerEngine {
  /** "ours", "tfjs-cpu", "tfjs-wasm", "tfjs-webgpu", "onnxruntime" or "gpujs". */
  engine: string;
  /** The backend its cases run on; read after `setup`, since gpu.js only then knows which mode it got. */
  backend: () => string;
  setup?: () => Promise<void>;
  teardown?: () => Promise<void>;
  /** Builds the inputs of one spec; the returned `run` is one op call that resolves when the result exists. */
  prepare: (spec: OpSpec) => PreparedCase | Promise<PreparedCase>;
}

/** The suite every engine shares, so that the same op and shape are one row per engine in the tables. */
export const PEER_SUITE = 'ops';

export function peerSuite(peer: PeerEngine, specs: readonly OpSpec[]): Suite {
  const toCase = (spec: OpSpec): BenchCase => ({
    op: spec.op,
    shape: shapeLabel(spec),
    backend: peer.backend(),
    dtype: 'float32',
    flops: flopsOf(spec),
    bytes: bytesOf(spec),
    prepare: () => peer.prepare(spec),
  });
  return {
    name: PEER_SUITE,
    engine: peer.engine,
    cases: () => specs.map(toCase),
    ...(peer.setup ? { setup: peer.setup } : {}),
    ...(peer.teardown ? { teardown: peer.teardown } : {}),
  };
}

/** Float32 values from a fixed-seed generator (a matmul's speed can depend on its values, so no zeros). */
export function randomFloats(length: number, seed = 1): Float32Array {
  const out = new Float32Array(length);
  let state = seed >>> 0;
  for (let i = 0; i < length; i++) {
    // xorshift32: cheap, and enough for benchmark inputs
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    out[i] = (state >>> 0) / 2 ** 31 - 1;
  }
  return out;
}
