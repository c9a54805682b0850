import type { View } from '../../backend.js';
import type { GpuStorage } from './buffers.js';
import { EngineError } from '../../errors.js';
import { type AdapterSummary, webgpu } from './context.js';
import { ParamLayout, at } from './params.js';
import { grid } from './queue.js';
import { F32_MATH, MAIN_1D, WG, bindings } from './wgsl.js';

/**
 * Fused row kernels (softmax, log_softmax, layer_norm, rms_norm, group_norm): each output row is computed from
 * statistics of its input row, gathered in one or more passes over the row, then written in a last pass. Fused,
 * a row is read two or three times and written once, where the composite definition makes five to nine trips
 * through memory.
 *
 * Row r is the elements base(r) + j·inner, j < len, with base(r) = (r / inner)·len·inner + r % inner: rows along
 * the last dim have inner = 1, a softmax along another dim has inner = the product of the dims after it.
 *
 * Three schedules, chosen per adapter and row shape in `rowSchedule`:
 * - a thread per row: many rows on CPU adapters, or short rows. Rows along the last dim whose offset and length
 *   are multiples of 4 are read and written as vec4s;
 * - a subgroup per row (adapters whose subgroups have one fixed size S, rows along the last dim): the workgroup
 *   is one subgroup, lane l takes elements l, l + S, …, and the lanes' statistics meet through subgroupAdd and
 *   subgroupMax, with no workgroup memory and no barrier. GPUs take it for rows up to 1024 long, as PyTorch's
 *   warp-per-row softmax does; CPU adapters when there are too few rows to give every core threads of its own;
 * - a workgroup per row whose threads take strided parts of it and combine their statistics in workgroup memory.
 *
 * On lavapipe (subgroups of 8, run as one SIMD vector) llvmpipe loads and stores storage lane by lane whatever
 * the addresses, each component behind its own bounds check, plus a fixed cost per lane and access: accesses
 * per element dominate. Hence vec4 rows, and no subgroup per row when rows are many (it makes as many accesses,
 * plus a cross-lane combine). Softmax over (16384, 256), CPU time per call on a 2-vCPU EPYC at load 15–20,
 * variants interleaved in one process: thread 36–50 ms, thread with vec4 rows 29 ms (wall time halved),
 * subgroup 39–53 ms, workgroup 1100–1300 ms (barriers are coroutine switches there). Keeping each lane's part of
 * a row in registers, or vec4 loads at one address shared by all lanes of a subgroup, were slower.
 *
 * Where a vector holds 8 rows a branch runs both its sides, so the softmax pass is branch-free, and folds two
 * vec4s a step (one rescale per 8 elements). Same shape, interleaved, CPU time of lavapipe's threads at load 3–6,
 * relative to the earlier branchy online pass (17–26 ms a call): 0.78–0.87 (wall 13–16 ms in the bench); one
 * vec4 a step 0.83–0.87. What is left is mostly memory access: a read-only pass alone costs 0.33, a vec4 copy
 * 0.49. Not kept: three passes (max, Σ exp, write: one more read) 1.0; the whole row held in registers (one
 * read, unrolled for one row length) 1.4–1.8, and at rows of 64 only 0.93 of the branch-free pass; each lane's
 * vec4 taken from eight loads at subgroup-uniform addresses 4.7 (llvmpipe does not see the addresses as uniform,
 * and loads lane by lane eight times); reading mat4x4s instead of vec4s saved 5–8% of a read, within the noise.
 */

/** One pass of statistics over a row: a vec2<f32> state per thread, updated per element, then combined. */
export interface RowPass {
  /** The state before any element (a vec2f expression). */
  init: string;
  /** Statements updating `acc` (vec2f) with element `v` (f32); earlier passes' results are in scope. */
  update: string;
  /**
   * Where rows are read as vec4s: statements updating `acc` with the vec4f values named `qs`, consecutive elements
   * (two vec4s a step, one in the last step of an odd count), so that a pass may fold them in at once. Without
   * it, `update` runs on each element.
   */
  updateVec4s?: (qs: string[]) => string;
  /** How two partial states merge: sums add, softmax states (max, Σ exp(x − shift)) rescale to a common shift. */
  combine: 'sum' | 'softmax';
  /** Statements deriving this pass's results from `total` (the row's state), e.g. `let mean = total.x / len;`. */
  result: string;
}

export interface RowOp {
  /** Pipeline key of the op (variants included). */
  key: string;
  passes: RowPass[];
  /** The output element from `v` (input element), `j` (position in the row), `r` (row) and the passes' results. */
  write: string;
  /** Extra read-only f32 inputs (weight, bias), bound after x. */
  extras: { name: string; view: View }[];
  /** WGSL helpers the expressions use. */
  helpers?: string;
  /** Read as p.eps. */
  eps?: number;
  /** Integers the op needs, read as p.k0 and p.k1 (group_norm: groups and positions per channel). */
  ints?: [number, number];
}

const params = new ParamLayout({ rows: 'u32', len: 'u32', inner: 'u32', offX: 'u32', eps: 'f32', k0: 'u32', k1: 'u32', offs: 'list' });

/** WGSL for element `index` of the k-th extra input (its offset is a parameter). */
export function extra(name: string, k: number, index: string): string {
  return `${name}[${at('p.offs', k)} + ${index}]`;
}

const COMBINE = `
fn combine_sum(a: vec2<f32>, b: vec2<f32>) -> vec2<f32> { return a + b; }
// Softmax states (max, Σ exp(x − shift(max))) shift by the max where it is finite, else by 0, as the composite
// softmax does: a row of −∞ sums exp(−∞) = 0, a row with +∞ sums ∞, and exp never sees ∞ − ∞.
fn softmax_shift(m: f32) -> f32 { return select(m, 0.0, abs(m) == inf_f32()); }
// The factor taking a sum from the shift of old_max to that of new_max ≥ old_max. Where the max grows to +∞ the
// shift falls to 0 and the exact factor may overflow; 1 serves as well, since the sum becomes ∞ anyway.
fn softmax_rescale(old_max: f32, new_max: f32) -> f32 { return exp(min(softmax_shift(old_max) - softmax_shift(new_max), 0.0)); }
fn any_nan4(q: vec4<f32>) -> bool { return any((bitcast<vec4<u32>>(q) & vec4<u32>(0x7fffffffu)) > vec4<u32>(0x7f800000u)); }
fn combine_softmax(a: vec2<f32>, b: vec2<f32>) -> vec2<f32> {
  let m = max(a.x, b.x);
  return vec2<f32>(m, a.y * softmax_rescale(a.x, m) + b.y * softmax_rescale(b.x, m));
}
`;

/** The softmax state of the whole subgroup: every lane's (max, Σ) rescaled to the common max, then summed. */
const COMBINE_SUBGROUP = `
fn combine_softmax_subgroup(a: vec2<f32>) -> vec2<f32> {
  let m = subgroupMax(a.x);
  return vec2<f32>(m, subgroupAdd(a.y * softmax_rescale(a.x, m)));
}
`;

export type RowSchedule = 'subgroup' | 'thread' | 'group';

/** Which schedule to use; tests set it to exercise each on one adapter. */
let forcedSchedule: RowSchedule | undefined;
export function forceRowSchedule(s: RowSchedule | undefined): void {
  forcedSchedule = s;
}

/** The fixed subgroup size of the adapter, or 0 where it has no subgroups or their size varies. */
export function fixedSubgroupSize(adapter: AdapterSummary): number {
  const fixed = adapter.subgroupMinSize > 0 && adapter.subgroupMinSize === adapter.subgroupMaxSize;
  return fixed && adapter.features.includes('subgroups') ? adapter.subgroupMinSize : 0;
}

/** Rows a CPU adapter needs to keep its cores busy with a thread per row (a workgroup holds WG of them). */
const MANY_ROWS = 64;
/** The longest row a GPU gives a single subgroup: beyond, a whole workgroup shares the walk. */
const SUBGROUP_ROW = 1024;

/** The schedule of `rows` rows of `len` elements, `inner` apart (see the note at the top). */
export function rowSchedule(adapter: AdapterSummary, rows: number, len: number, inner: number): RowSchedule {
  if (forcedSchedule) return forcedSchedule;
  const manyRows = adapter.isCpu && rows >= MANY_ROWS;
  if (manyRows || len < 32) return 'thread';
  const bySubgroup = fixedSubgroupSize(adapter) > 0 && inner === 1 && (adapter.isCpu || len <= SUBGROUP_ROW);
  return bySubgroup ? 'subgroup' : 'group';
}

function subgroupPerRow(op: RowOp, S: number): string {
  const passes = op.passes
    .map(
      (pass) => `  {
    var acc = ${pass.init};
    for (var j = lane; j < p.len; j += ${S}u) {
      let v = x[base + j];
${pass.update}
    }
    total = ${pass.combine === 'sum' ? 'subgroupAdd(acc)' : 'combine_softmax_subgroup(acc)'};
  }
${pass.result}`,
    )
    .join('\n');
  return `@compute @workgroup_size(${S})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(subgroup_invocation_id) lane: u32) {
  let r = wid.y * nwg.x + wid.x;
  if (r >= p.rows) { return; }
  let base = p.offX + r * p.len;
  var total: vec2<f32>;
${passes}
  for (var j = lane; j < p.len; j += ${S}u) {
    let v = x[base + j];
    y[base - p.offX + j] = ${op.write};
  }
}
`;
}

function threadPerRow(op: RowOp): string {
  const passes = op.passes
    .map(
      (pass) => `  {
    var acc = ${pass.init};
    for (var j = 0u; j < p.len; j++) {
      let v = x[base + j * p.inner];
${pass.update}
    }
    total = acc;
  }
${pass.result}`,
    )
    .join('\n');
  return `${MAIN_1D}
  if (i >= p.rows) { return; }
  let r = i;
  let base = p.offX + (r / p.inner) * p.len * p.inner + r % p.inner;
  var total: vec2<f32>;
${passes}
  for (var j = 0u; j < p.len; j++) {
    let v = x[base + j * p.inner];
    y[base - p.offX + j * p.inner] = ${op.write};
  }
}
`;
}

/**
 * A thread per row of aligned rows along the last dim (offset and length multiples of 4): x and y are bound as
 * vec4 arrays, so a thread makes a quarter of the loads and stores.
 */
function threadPerAlignedRow(op: RowOp): string {
  const each = (body: (c: number) => string) => [0, 1, 2, 3].map((c) => `      { let j = 4u * k + ${c}u; let v = q[${c}];\n${body(c)}\n      }`).join('\n');
  const walk = (pass: RowPass) => {
    if (!pass.updateVec4s) {
      return `    for (var k = 0u; k < p.len / 4u; k++) {
      let q = x[base + k];
${each(() => pass.update)}
    }`;
    }
    return `    let n = p.len / 4u;
    for (var k = 0u; k + 1u < n; k += 2u) {
      let q0 = x[base + k];
      let q1 = x[base + k + 1u];
${pass.updateVec4s(['q0', 'q1'])}
    }
    if (n % 2u == 1u) {
      let q0 = x[base + n - 1u];
${pass.updateVec4s(['q0'])}
    }`;
  };
  const passes = op.passes
    .map(
      (pass) => `  {
    var acc = ${pass.init};
${walk(pass)}
    total = acc;
  }
${pass.result}`,
    )
    .join('\n');
  return `${MAIN_1D}
  if (i >= p.rows) { return; }
  let r = i;
  let base = (p.offX + r * p.len) / 4u;
  var total: vec2<f32>;
${passes}
  for (var k = 0u; k < p.len / 4u; k++) {
    let q = x[base + k];
    var o: vec4<f32>;
${each((c) => `        o[${c}] = ${op.write};`)}
    y[base - p.offX / 4u + k] = o;
  }
}
`;
}

function workgroupPerRow(op: RowOp): string {
  const passes = op.passes
    .map(
      (pass) => `  {
    var acc = ${pass.init};
    for (var j = lid; j < p.len; j += ${WG}u) {
      let v = x[base + j * p.inner];
${pass.update}
    }
    partial[lid] = acc;
    workgroupBarrier();
    for (var s = ${WG / 2}u; s > 0u; s = s >> 1u) {
      if (lid < s) { partial[lid] = combine_${pass.combine}(partial[lid], partial[lid + s]); }
      workgroupBarrier();
    }
    total = partial[0];
    workgroupBarrier();
  }
${pass.result}`,
    )
    .join('\n');
  return `var<workgroup> partial: array<vec2<f32>, ${WG}>;
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let r = wid.y * nwg.x + wid.x;
  if (r >= p.rows) { return; }
  let base = p.offX + (r / p.inner) * p.len * p.inner + r % p.inner;
  var total: vec2<f32>;
${passes}
  for (var j = lid; j < p.len; j += ${WG}u) {
    let v = x[base + j * p.inner];
    y[base - p.offX + j * p.inner] = ${op.write};
  }
}
`;
}

/** Records `out` = op over the rows of `x` (contiguous), rows of `len` elements `inner` apart. */
export function rowKernel(op: RowOp, x: View, out: View, rows: number, len: number, inner: number): void {
  if (rows === 0 || len === 0) return;
  const { queue, adapter } = webgpu();
  const schedule = rowSchedule(adapter, rows, len, inner);
  const S = fixedSubgroupSize(adapter);
  if (schedule === 'subgroup' && (S === 0 || inner !== 1)) {
    throw new EngineError(`rows (${op.key}): the subgroup schedule needs subgroups of one fixed size and rows along the last dim`);
  }
  const aligned = schedule === 'thread' && inner === 1 && len % 4 === 0 && x.offset % 4 === 0;
  const kernels = { subgroup: () => subgroupPerRow(op, S), thread: () => (aligned ? threadPerAlignedRow(op) : threadPerRow(op)), group: () => workgroupPerRow(op) };
  const element = aligned ? 'vec4<f32>' : 'f32';
  queue.dispatch({
    key: `rows:${op.key}:${schedule}${schedule === 'subgroup' ? S : ''}${aligned ? ':vec4' : ''}`,
    code: () =>
      (schedule === 'subgroup' ? 'enable subgroups;\n' : '') +
      params.wgsl() +
      bindings(
        [['x', element], ...op.extras.map((e): [string, string] => [e.name, 'f32'])],
        [['y', element]],
      ) +
      F32_MATH +
      COMBINE +
      (schedule === 'subgroup' ? COMBINE_SUBGROUP : '') +
      (op.helpers ?? '') +
      kernels[schedule](),
    reads: [x.storage as GpuStorage, ...op.extras.map((e) => e.view.storage as GpuStorage)],
    writes: [out.storage as GpuStorage],
    params: params.pack({
      rows,
      len,
      inner,
      offX: x.offset,
      eps: op.eps ?? 0,
      k0: op.ints?.[0] ?? 0,
      k1: op.ints?.[1] ?? 0,
      offs: op.extras.map((e) => e.view.offset),
    }),
    workgroups: grid(schedule === 'thread' ? Math.ceil(rows / WG) : rows),
    cost: rows * len * (op.passes.length + 1) * 2,
  });
}

/**
 * The passes of a softmax: the row's maximum and Σ exp(x − shift), shift = softmax_shift(max), in one online pass.
 * A NaN makes the sum NaN (tested by its bits: compilers may assume that comparisons never see NaN). Branch-free:
 * where a SIMD vector holds several rows, as on CPU adapters, both sides of a branch run. Rows read as vec4s take
 * one rescale per eight elements.
 */
export const SOFTMAX_PASS: RowPass = {
  init: 'vec2<f32>(-inf_f32(), 0.0)',
  update:
    '      let m = max(acc.x, v);\n' +
    '      acc = vec2<f32>(m, select(acc.y * softmax_rescale(acc.x, m) + exp(v - softmax_shift(m)), nan_f32(), is_nan(v)));',
  updateVec4s: (qs) => {
    const max = qs.reduce((a, q) => `max(${a}, ${q})`);
    return `      let h = ${max};
      let m = max(acc.x, max(max(h.x, h.y), max(h.z, h.w)));
      let shift = softmax_shift(m);
      let e = ${qs.map((q) => `exp(${q} - shift)`).join(' + ')};
      acc = vec2<f32>(m, select(acc.y * softmax_rescale(acc.x, m) + (e.x + e.y) + (e.z + e.w), nan_f32(), ${qs.map((q) => `any_nan4(${q})`).join(' | ')}));`;
  },
  combine: 'softmax',
  result: '  let row_shift = softmax_shift(total.x);\n  let row_sum = total.y;',
};
