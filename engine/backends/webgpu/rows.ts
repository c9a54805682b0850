import type { View } from '../../backend.js';
import type { GpuStorage } from './buffers.js';
import { webgpu } from './context.js';
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
 * Two schedules, as for reductions: a thread per row (CPU adapters, or many short rows), or a workgroup per row
 * whose threads take strided parts of it and combine their statistics in workgroup memory.
 */

/** One pass of statistics over a row: a vec2<f32> state per thread, updated per element, then combined. */
export interface RowPass {
  /** The state before any element (a vec2f expression). */
  init: string;
  /** Statements updating `acc` (vec2f) with element `v` (f32); earlier passes' results are in scope. */
  update: string;
  /** How two partial states merge: sums add, softmax states (max, Σ exp(x − max)) rescale. */
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
fn combine_softmax(a: vec2<f32>, b: vec2<f32>) -> vec2<f32> {
  let m = max_(a.x, b.x);
  if (m == -inf_f32()) { return vec2<f32>(m, a.y + b.y); }
  return vec2<f32>(m, a.y * exp(a.x - m) + b.y * exp(b.x - m));
}
`;

/** Which schedule to use; tests set it to exercise both on one adapter. */
let forcedSchedule: 'thread' | 'group' | undefined;
export function forceRowSchedule(s: 'thread' | 'group' | undefined): void {
  forcedSchedule = s;
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
  const schedule = forcedSchedule ?? ((adapter.isCpu && rows >= 64) || len < 32 ? 'thread' : 'group');
  queue.dispatch({
    key: `rows:${op.key}:${schedule}`,
    code: () =>
      params.wgsl() +
      bindings(
        [['x', 'f32'], ...op.extras.map((e): [string, string] => [e.name, 'f32'])],
        [['y', 'f32']],
      ) +
      F32_MATH +
      COMBINE +
      (op.helpers ?? '') +
      (schedule === 'thread' ? threadPerRow(op) : workgroupPerRow(op)),
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
    workgroups: schedule === 'thread' ? grid(Math.ceil(rows / WG)) : grid(rows),
    cost: rows * len * (op.passes.length + 1) * 2,
  });
}

/** The passes of a softmax: the row's maximum and Σ exp(x − max), in one online pass. */
export const SOFTMAX_PASS: RowPass = {
  init: 'vec2<f32>(-inf_f32(), 0.0)',
  // A −∞ element adds nothing; skipping it also avoids exp(−∞ − (−∞)) = NaN while the running max is still −∞.
  update: '      if (v > acc.x) { acc = vec2<f32>(v, acc.y * exp(acc.x - v) + 1.0); } else if (v != -inf_f32()) { acc.y += exp(v - acc.x); }',
  combine: 'softmax',
  result: '  let row_max = total.x;\n  let row_sum = total.y;',
};
