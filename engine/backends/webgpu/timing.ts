import { EngineError } from '../../errors.js';
import { webgpu } from './context.js';

/**
 * Device time by timestamp queries, where the adapter offers 'timestamp-query' (initWebGPU requests it, and
 * turns off Dawn's timestamp quantisation, which otherwise rounds them to coarse steps). Wall clock around a
 * synced call also counts recording, submission and the wake-up of the waiting JavaScript; timestamps count the
 * device's time only.
 *
 * Two marks bracket the work, each an empty compute pass that writes a timestamp: the first is submitted once the
 * device is idle, the second right after the work's own submission, so that the device reaches it without a
 * gap. The only host time inside is the recording of the work between the first mark and the work's submission
 * (microseconds for one op).
 */

export function timestampsAvailable(): boolean {
  return webgpu().device.features.has('timestamp-query');
}

/** An empty compute pass that writes a timestamp into `querySet[index]` when the device reaches it. */
function mark(encoder: GPUCommandEncoder, querySet: GPUQuerySet, index: number): void {
  encoder.beginComputePass({ timestampWrites: { querySet, beginningOfPassWriteIndex: index } }).end();
}

/**
 * Milliseconds of device time taken by the work that `run` records and submits. `run` must submit what it
 * records before returning (a WebGPU benchmark call does: it ends with `webgpuSync()`, whose submission happens
 * at once); what it returns is awaited before the timestamps are read.
 */
export async function gpuTime(run: () => unknown): Promise<number> {
  if (!timestampsAvailable()) throw new EngineError("WebGPU: this adapter offers no 'timestamp-query'; time with the wall clock instead");
  const { device, queue } = webgpu();
  const querySet = device.createQuerySet({ type: 'timestamp', count: 2 });
  const resolved = device.createBuffer({ size: 16, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
  const readback = device.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  try {
    await queue.sync();
    queue.flush((encoder) => mark(encoder, querySet, 0));
    const done = run();
    queue.flush((encoder) => {
      mark(encoder, querySet, 1);
      encoder.resolveQuerySet(querySet, 0, 2, resolved, 0);
      encoder.copyBufferToBuffer(resolved, 0, readback, 0, 16);
    });
    await done;
    await queue.sync();
    await readback.mapAsync(GPUMapMode.READ);
    const [begin, end] = new BigUint64Array(readback.getMappedRange());
    readback.unmap();
    return Number(end! - begin!) / 1e6;
  } finally {
    querySet.destroy();
    resolved.destroy();
    readback.destroy();
  }
}
