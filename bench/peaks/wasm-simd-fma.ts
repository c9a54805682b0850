/*
 * A WebAssembly SIMD kernel that does nothing but f32x4 multiply-adds: the most a JavaScript engine's compiled
 * code can reach on one core here. Wasm (without relaxed SIMD) has no fused multiply-add and only 128-bit
 * vectors, so this is below the core's native peak (AVX-512 FMA): it says what wasm kernels could hope for.
 *
 *   run(n): 12 accumulators, each updated n times by acc = acc·0.5 + 0.5 (it converges to 1: no denormals,
 *   no infinities), then the sum of their first lanes, so that the work cannot be dropped.
 *
 * 12 independent chains cover the latency of a mul followed by an add on two vector pipes; more would spill,
 * as V8 uses 16 xmm registers. The module is written out byte by byte (the binary format, section by section).
 */

const ACCUMULATORS = 12;
/** FLOPs per loop iteration: a mul and an add on 4 lanes, for each accumulator. */
export const FLOPS_PER_ITERATION = ACCUMULATORS * 4 * 2;

const LOCAL_GET = 0x20, LOCAL_SET = 0x21, LOCAL_TEE = 0x22, F32_CONST = 0x43, I32_CONST = 0x41, I32_SUB = 0x6b;
const F32_ADD = 0x92, LOOP = 0x03, BR_IF = 0x0d, END = 0x0b, VOID = 0x40, I32 = 0x7f, F32 = 0x7d, V128 = 0x7b;
const SIMD = 0xfd, F32X4_SPLAT = [SIMD, 0x13], F32X4_EXTRACT_LANE = [SIMD, 0x1f], F32X4_ADD = [SIMD, 0xe4, 0x01], F32X4_MUL = [SIMD, 0xe6, 0x01];

const f32 = (v: number) => [...new Uint8Array(Float32Array.of(v).buffer)];
const section = (id: number, body: number[]) => [id, ...uleb(body.length), ...body];
function uleb(v: number): number[] {
  const out: number[] = [];
  do {
    out.push((v & 0x7f) | (v >= 0x80 ? 0x80 : 0));
    v >>>= 7;
  } while (v > 0);
  return out;
}

function moduleBytes(): Uint8Array<ArrayBuffer> {
  // Local 0 is the parameter n; 1..12 the accumulators (zero at entry); then the multiplier and the addend.
  const multiplier = ACCUMULATORS + 1, addend = ACCUMULATORS + 2;
  const accumulators = Array.from({ length: ACCUMULATORS }, (_, i) => i + 1);
  const code = [
    F32_CONST, ...f32(0.5), ...F32X4_SPLAT, LOCAL_SET, multiplier,
    F32_CONST, ...f32(0.5), ...F32X4_SPLAT, LOCAL_SET, addend,
    LOOP, VOID,
    ...accumulators.flatMap((a) => [LOCAL_GET, a, LOCAL_GET, multiplier, ...F32X4_MUL, LOCAL_GET, addend, ...F32X4_ADD, LOCAL_SET, a]),
    LOCAL_GET, 0, I32_CONST, 1, I32_SUB, LOCAL_TEE, 0, BR_IF, 0,
    END,
    ...accumulators.flatMap((a, i) => [LOCAL_GET, a, ...F32X4_EXTRACT_LANE, 0, ...(i > 0 ? [F32_ADD] : [])]),
    END,
  ];
  const body = [1, ACCUMULATORS + 2, V128, ...code]; // one run of locals: 14 × v128
  return Uint8Array.from([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // "\0asm", version 1
    ...section(1, [1, 0x60, 1, I32, 1, F32]), // type 0: (i32) → f32
    ...section(3, [1, 0]), // function 0 has type 0
    ...section(7, [1, 3, ...new TextEncoder().encode('run'), 0x00, 0]), // export "run" = function 0
    ...section(10, [1, ...uleb(body.length), ...body]),
  ]);
}

/** The kernel, compiled; `run(n)` performs n · FLOPS_PER_ITERATION FLOPs. */
export function wasmSimdFmaKernel(): (iterations: number) => number {
  const instance = new WebAssembly.Instance(new WebAssembly.Module(moduleBytes()));
  return instance.exports.run as (iterations: number) => number;
}
