import type { DType } from '../engine/index.js';

/** What a suite's case gives the runner: inputs already built, and the call to time. */
export interface PreparedCase {
  /**
   * One timed call; it returns (or resolves) only when the result exists, so its time is the op's time. On WebGPU
   * that means awaiting `webgpuSync(y)` for the result y: recording alone is not the work.
   */
  run: () => unknown;
  /** Frees the inputs once the case is measured. */
  dispose: () => void | Promise<void>;
}

export interface BenchCase {
  op: string;
  /** Human-readable operand shapes, e.g. "[512,512]×[512,512]". */
  shape: string;
  backend: string;
  dtype: DType;
  /** Floating-point operations per call (null for memory-bound ops). */
  flops: number | null;
  /** Bytes that one call must read and write at least (each input once, each output once); null where not counted. */
  bytes: number | null;
  /** Builds the inputs (and, for some peers, the compiled model): not timed as the op. */
  prepare: () => PreparedCase | Promise<PreparedCase>;
  /** A call of seconds (a training step): timed a fixed few times after one warm-up call, not for a time budget. */
  slow?: boolean;
}

/**
 * A named list of cases; new backends add a file under bench/suites/, peer engines one under bench/peers/, and
 * each a line in bench/run.ts.
 */
export interface Suite {
  name: string;
  /** The engine measured ("ours", or a peer's name). */
  engine: string;
  /** Cases may be listed before `setup`, but their `backend` is final only after it (gpu.js learns its mode there). */
  cases: () => BenchCase[];
  /** Loads and opens the engine (wasm, a device); when it throws, the suite becomes one error row. */
  setup?: () => Promise<void>;
  /** Frees what `setup` opened: Node does not exit while a Dawn device lives. */
  teardown?: () => Promise<void>;
}
