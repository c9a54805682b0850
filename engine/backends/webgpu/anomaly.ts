import type { Backend } from '../../backend.js';
import { AnomalyError, fmtShape } from '../../errors.js';
import type { Tensor } from '../../tensor.js';
import { type GpuStorage, gpuStorageOf } from './buffers.js';
import { webgpu } from './context.js';
import { ParamLayout } from './params.js';
import { grid } from './queue.js';
import { MAIN_1D, WG, bindings } from './wgsl.js';

/**
 * Anomaly mode on WebGPU. The CPU mode reads every op's outputs at once; here a read would wait for the device
 * after every op and end the batching. Instead each check records one more dispatch, right after the op's own:
 * it scans an output and, finding a NaN or ±∞, writes a code into the flag of that check. The host keeps, per
 * flag, the op and phase and the shapes. Flags are read back once, when a value is read (or at
 * `checkAnomalies()`), and the first flag set names the op, as the CPU mode would have.
 *
 * Flags live in segments of SEGMENT u32, taken from the buffer pool and zeroed by an upload before their first
 * check (an upload runs before the batch being recorded, so before every check that uses it).
 */

const SEGMENT = 1024;
/** Flag codes, by what the check found; when threads race, one code stays, and each is true. */
const FOUND = ['', 'NaN', 'Infinity', '-Infinity'];

interface Check {
  where: string;
  inputShapes: string;
  outputShape: string;
}

interface Segment {
  flags: GpuStorage;
  checks: Check[];
}

const params = new ParamLayout({ n: 'u32', off: 'u32', slot: 'u32' });

const checkShader = () =>
  params.wgsl() +
  bindings([['x', 'u32']], [['flags', 'u32']]) +
  `${MAIN_1D}
  if (i >= p.n) { return; }
  // By the bits: WGSL compilers may assume that floats are never NaN.
  let bits = x[p.off + i];
  let magnitude = bits & 0x7fffffffu;
  if (magnitude > 0x7f800000u) { flags[p.slot] = 1u; } else if (magnitude == 0x7f800000u) { flags[p.slot] = 2u + (bits >> 31u); }
}
`;

let segments: Segment[] = [];

/** Records checks of `outputs` (float ones, stored contiguously) attributed to `where`, e.g. "log (forward)". */
export function recordFiniteChecks(where: string, inputs: readonly Tensor[], outputs: readonly Tensor[]): void {
  const { queue } = webgpu();
  for (const t of outputs) {
    // A strided view shows values checked where they were made; only its producer's check can place them.
    if (t.dtype === 'int32' || t.size === 0 || !t.isContiguous) continue;
    const segment = openSegment(gpuStorageOf(t.storage));
    const slot = segment.checks.length;
    segment.checks.push({ where, inputShapes: inputs.map((x) => fmtShape(x.shape)).join(', '), outputShape: fmtShape(t.shape) });
    queue.dispatch({
      key: 'anomaly:check',
      code: checkShader,
      reads: [gpuStorageOf(t.storage)],
      writes: [segment.flags],
      params: params.pack({ n: t.size, off: t.offset, slot }),
      workgroups: grid(Math.ceil(t.size / WG)),
      cost: t.size,
    });
  }
}

function openSegment(like: GpuStorage): Segment {
  const last = segments[segments.length - 1];
  if (last && last.checks.length < SEGMENT) return last;
  const { device, queue } = webgpu();
  const flags = queue.pool.alloc(like.backend, 'int32', SEGMENT, queue.batch, true);
  device.queue.writeBuffer(flags.buffer, 0, new Uint32Array(SEGMENT));
  const segment = { flags, checks: [] };
  segments.push(segment);
  return segment;
}

/** Forgets the checks recorded so far, unread: their buffers go with the device (destroyWebGPU). */
export function discardAnomalyChecks(): void {
  segments = [];
}

/** Checks recorded and not yet read back (for tests). */
export function pendingAnomalyChecks(): number {
  return segments.reduce((n, s) => n + s.checks.length, 0);
}

/**
 * Reads the flags of every check recorded so far (one readback per SEGMENT checks) and throws the AnomalyError
 * of the first one set. Either way the checks are done with.
 */
export async function checkAnomalies(): Promise<void> {
  if (!segments.length) return;
  const { queue } = webgpu();
  const taken = segments;
  segments = [];
  try {
    for (const { flags, checks } of taken) {
      const codes = await queue.read(flags, 0, checks.length);
      const first = codes.findIndex((c) => c !== 0);
      if (first >= 0) {
        const c = checks[first]!;
        throw new AnomalyError(`anomaly: ${c.where} produced ${FOUND[codes[first]!]} in an output of shape ${c.outputShape} (input shapes ${c.inputShapes})`);
      }
    }
  } finally {
    for (const { flags } of taken) queue.pool.release(flags, queue.batch);
  }
}

/**
 * Makes every read from `backend` end with `checkAnomalies()`, so that a value computed after an anomaly is never
 * handed out in anomaly mode. With no checks recorded it costs nothing.
 */
export function checkAnomaliesOnRead(backend: Backend): void {
  const read = backend.read.bind(backend);
  backend.read = async (storage, offset, length) => {
    const data = await read(storage, offset, length);
    await checkAnomalies();
    return data;
  };
}
