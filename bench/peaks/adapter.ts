/*
 * The WebGPU adapter's ceilings, measured by two WGSL kernels on a device of their own: multiply-add throughput
 * (many independent vec4 fma chains per invocation, nothing read in the loop) and copy bandwidth (vec4 loads and
 * stores over buffers far larger than the caches). On lavapipe the "GPU" is the CPU's cores running LLVM-compiled
 * shaders, so these are what Dawn + lavapipe let a WGSL kernel reach, the same for every engine that uses it:
 * bounds from below, the best kernels found, not the silicon's peak. Each figure is the best of several
 * submissions; a submission holds a few dispatches, and its time runs from submit to `onSubmittedWorkDone`.
 */

const FMA_ITERATIONS = 256;
const FMA_CHAINS = 8;
/**
 * Steps per loop trip. On lavapipe a loop trip costs about as much as 8 vec4 fmas (it keeps per-lane masks), so
 * the body is unrolled: 16 doubled the rate here, while 64 or 256 were slower again (code size).
 */
const FMA_UNROLL = 16;
const FMA_WORKGROUPS = 1024;
const WORKGROUP_SIZE = 64;
/** FLOPs of one dispatch: each invocation updates FMA_CHAINS vec4 accumulators FMA_ITERATIONS times (an fma is 2 FLOPs a lane). */
const FMA_FLOPS = FMA_WORKGROUPS * WORKGROUP_SIZE * FMA_ITERATIONS * FMA_CHAINS * 4 * 2;

const chains = Array.from({ length: FMA_CHAINS }, (_, i) => i);
// The multiplier and addend come from a buffer, so that the compiler cannot fold the loop; acc·0.5 + 0.5 tends to 1.
const FMA_SHADER = `
struct Params { multiplier: vec4f, addend: vec4f }
@group(0) @binding(0) var<storage, read> params: Params;
@group(0) @binding(1) var<storage, read_write> sink: array<vec4f>;
@compute @workgroup_size(${WORKGROUP_SIZE})
fn main(@builtin(global_invocation_id) id: vec3u) {
  let m = params.multiplier;
  let c = params.addend;
  ${chains.map((i) => `var a${i} = vec4f(f32(id.x) + ${i}.0);`).join('\n  ')}
  for (var i = 0u; i < ${FMA_ITERATIONS / FMA_UNROLL}u; i++) {
    ${Array.from({ length: FMA_UNROLL }, () => chains.map((i) => `a${i} = fma(a${i}, m, c);`).join('\n    ')).join('\n    ')}
  }
  sink[id.x] = ${chains.map((i) => `a${i}`).join(' + ')};
}`;

const COPY_SHADER = `
@group(0) @binding(0) var<storage, read> source: array<vec4f>;
@group(0) @binding(1) var<storage, read_write> destination: array<vec4f>;
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) id: vec3u) {
  destination[id.x] = source[id.x];
}`;

interface Dispatch {
  pipeline: GPUComputePipeline;
  bindGroup: GPUBindGroup;
  workgroups: number;
}

/** The pipeline and bindings of one kernel; throws Dawn's message if the shader or the bindings are invalid. */
async function dispatchOf(device: GPUDevice, code: string, buffers: GPUBuffer[], workgroups: number): Promise<Dispatch> {
  device.pushErrorScope('validation');
  const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module: device.createShaderModule({ code }), entryPoint: 'main' } });
  const entries = buffers.map((buffer, binding) => ({ binding, resource: { buffer } }));
  const bindGroup = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries });
  const error = await device.popErrorScope();
  if (error) throw new Error(`peak kernel: ${error.message}`);
  return { pipeline, bindGroup, workgroups };
}

/** The best rate, in units of `workPerDispatch` per second, over `rounds` submissions of `repeats` dispatches. */
async function best(device: GPUDevice, d: Dispatch, workPerDispatch: number, repeats: number, rounds: number): Promise<number> {
  const submit = async () => {
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    pass.setPipeline(d.pipeline);
    pass.setBindGroup(0, d.bindGroup);
    for (let i = 0; i < repeats; i++) pass.dispatchWorkgroups(d.workgroups);
    pass.end();
    const started = performance.now();
    device.queue.submit([encoder.finish()]);
    await device.queue.onSubmittedWorkDone();
    return (repeats * workPerDispatch) / ((performance.now() - started) * 1e-3);
  };
  await submit(); // compiles the shader and touches the buffers
  let top = 0;
  for (let i = 0; i < rounds; i++) top = Math.max(top, await submit());
  return top;
}

/** Dawn's instance must outlive its devices (a collected instance takes the process down), so it is kept here. */
let dawn: GPU | undefined;

export interface AdapterPeaks {
  fmaGflops: number;
  copyGbps: number;
}

/** Opens a device on the adapter, measures, and destroys it. Throws when there is no adapter. */
export async function measureAdapterPeaks(quick: boolean): Promise<AdapterPeaks> {
  const { create, globals } = (await import('webgpu')) as { create: (flags: string[]) => GPU; globals: object };
  Object.assign(globalThis, globals);
  dawn ??= create([]);
  const adapter = await dawn.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) throw new Error('no WebGPU adapter');
  const device = await adapter.requestDevice();
  try {
    const storage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST;
    const params = device.createBuffer({ size: 32, usage: storage });
    device.queue.writeBuffer(params, 0, new Float32Array(8).fill(0.5));
    const sink = device.createBuffer({ size: FMA_WORKGROUPS * WORKGROUP_SIZE * 16, usage: storage });
    const fma = await dispatchOf(device, FMA_SHADER, [params, sink], FMA_WORKGROUPS);
    const fmaGflops = (await best(device, fma, FMA_FLOPS, 4, quick ? 3 : 7)) / 1e9;

    const copyBytes = 64 * 2 ** 20; // each buffer: 4 Mi vec4 (the default binding limit is 128 MiB)
    const [source, destination] = [device.createBuffer({ size: copyBytes, usage: storage }), device.createBuffer({ size: copyBytes, usage: storage })];
    const copy = await dispatchOf(device, COPY_SHADER, [source, destination], copyBytes / 16 / 256);
    const copyGbps = (await best(device, copy, 2 * copyBytes, 2, quick ? 3 : 7)) / 1e9;
    return { fmaGflops, copyGbps };
  } finally {
    device.destroy();
  }
}
