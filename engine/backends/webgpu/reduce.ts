import type { Kernel, View } from '../../backend.js';
import type { DType } from '../../dtype.js';
import { contiguousStrides } from '../../shape.js';
import type { ReduceAttrs } from '../cpu/reduce.js';
import type { GpuStorage } from './buffers.js';
import { webgpu } from './context.js';
import { coalesce, offsetsWgsl, padList } from './layout.js';
import { ParamLayout } from './params.js';
import { type RowOp, SOFTMAX_PASS, rowKernel } from './rows.js';
import { grid } from './queue.js';
import { F32_MATH, MAIN_1D, WG, type WgslScalar, bindings, wgslType } from './wgsl.js';

/**
 * Reductions along any dims: sum, amax, amin, argmax, argmin. The input's kept dims and reduced dims are each
 * merged on the host into short walks, so a shader sees "output o, element r" whatever the layout.
 *
 * Three schedules:
 * - one thread per output, looping over its elements: many outputs with short rows (and on CPU adapters,
 *   where a workgroup is one thread and barriers are coroutine switches, whenever there are enough outputs);
 * - one workgroup per output, a strided loop per thread then a tree in workgroup memory: long rows;
 * - few outputs with very long rows: a first pass reduces chunks of each row into partials, a second reduces
 *   the partials (for argmax/argmin it carries the winning indices along).
 * The order of additions is fixed by the shapes, so results are deterministic.
 *
 * Conventions as on the CPU: NaN wins amax/amin/argmax/argmin (the first NaN for the arg ops); ties go to the
 * smallest index.
 */

type ReduceOp = 'sum' | 'amax' | 'amin' | 'argmax' | 'argmin';

const params = new ParamLayout({
  nOut: 'u32',
  nIn: 'u32',
  off: 'u32',
  chunks: 'u32',
  chunkLen: 'u32',
  oshape: 'list',
  ostride: 'list',
  ishape: 'list',
  istride: 'list',
});

interface Plan {
  op: ReduceOp;
  type: WgslScalar;
  outerRank: number;
  innerRank: number;
  /** Indices come from a buffer (second pass of an arg op) instead of the element number. */
  indexInput: boolean;
  writeValue: boolean;
  writeIndex: boolean;
}

const isArg = (op: ReduceOp) => op === 'argmax' || op === 'argmin';

/** WGSL of the accumulator: its declaration, the update with element (v, idx), and the merge of two. */
function accumulator(op: ReduceOp, t: WgslScalar) {
  if (op === 'sum') return { init: `${t}(0)`, initIndex: '0', better: '' };
  const max = op === 'amax' || op === 'argmax';
  const lowest = t === 'f32' ? (max ? '-inf_f32()' : 'inf_f32()') : max ? 'i32(-2147483647 - 1)' : 'i32(2147483647)';
  const cmp = max ? '>' : '<';
  const nanRules = t === 'f32' ? `  if (is_nan(best)) { return is_nan(v) && i < bestI; }\n  if (is_nan(v)) { return true; }\n` : '';
  // Is (v, i) better than (best, bestI)? NaN first, then the larger (smaller), then the smaller index.
  const better = `fn better(v: ${t}, i: i32, best: ${t}, bestI: i32) -> bool {\n${nanRules}  return v ${cmp} best || (v == best && i < bestI);\n}\n`;
  return { init: lowest, initIndex: '2147483647', better };
}

function update(op: ReduceOp, acc: string, accI: string, v: string, i: string): string {
  if (op === 'sum') return `${acc} = ${acc} + ${v};`;
  return `if (better(${v}, ${i}, ${acc}, ${accI})) { ${acc} = ${v}; ${accI} = ${i}; }`;
}

function decls(plan: Plan): string {
  const reads: [string, string][] = [['x', plan.type]];
  if (plan.indexInput) reads.push(['xi', 'i32']);
  const writes: [string, string][] = [];
  if (plan.writeValue) writes.push(['y', plan.type]);
  if (plan.writeIndex) writes.push(['yi', 'i32']);
  const acc = accumulator(plan.op, plan.type);
  return params.wgsl() + bindings(reads, writes) + F32_MATH + acc.better;
}

/** Statements reading element r of output o's row into (v, idx), given `base`. */
function loadElement(plan: Plan, r: string): string {
  return (
    offsetsWgsl(plan.innerRank, r, 'p.ishape', [{ name: 'at_in', init: 'base', strides: 'p.istride' }]) +
    `    let v = x[at_in];\n    let idx = ${plan.indexInput ? 'xi[at_in]' : `i32(${r})`};\n`
  );
}

function writeResult(plan: Plan, slot: string, acc: string, accI: string): string {
  return (plan.writeValue ? `y[${slot}] = ${acc}; ` : '') + (plan.writeIndex ? `yi[${slot}] = ${accI};` : '');
}

function threadPerOutput(plan: Plan): string {
  const acc = accumulator(plan.op, plan.type);
  return (
    decls(plan) +
    MAIN_1D +
    `
  if (i >= p.nOut) { return; }
${offsetsWgsl(plan.outerRank, 'i', 'p.oshape', [{ name: 'base', init: 'p.off', strides: 'p.ostride' }])}
  var acc = ${acc.init};
  var accI = ${acc.initIndex};
  for (var r = 0u; r < p.nIn; r++) {
${loadElement(plan, 'r')}
    ${update(plan.op, 'acc', 'accI', 'v', 'idx')}
  }
  ${writeResult(plan, 'i', 'acc', 'accI')}
}
`
  );
}

/** WG threads whatever the row length: lavapipe takes seconds to compile the tree for some smaller sizes. */
function workgroupPerOutput(plan: Plan): string {
  const size = WG;
  const acc = accumulator(plan.op, plan.type);
  const shared = `var<workgroup> sv: array<${plan.type}, ${size}>;\n` + (plan.op === 'sum' ? '' : `var<workgroup> si: array<i32, ${size}>;\n`);
  const merge =
    plan.op === 'sum'
      ? 'sv[lid] = sv[lid] + sv[lid + s];'
      : 'if (better(sv[lid + s], si[lid + s], sv[lid], si[lid])) { sv[lid] = sv[lid + s]; si[lid] = si[lid + s]; }';
  return (
    decls(plan) +
    shared +
    `@compute @workgroup_size(${size})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let g = wid.y * nwg.x + wid.x;
  let o = g / p.chunks;
  let in_range = o < p.nOut;
  let start = (g % p.chunks) * p.chunkLen;
  let end = select(start, min(start + p.chunkLen, p.nIn), in_range);
${offsetsWgsl(plan.outerRank, 'o', 'p.oshape', [{ name: 'base', init: 'p.off', strides: 'p.ostride' }])}
  var acc = ${acc.init};
  var accI = ${acc.initIndex};
  for (var r = start + lid; r < end; r += ${size}u) {
${loadElement(plan, 'r')}
    ${update(plan.op, 'acc', 'accI', 'v', 'idx')}
  }
  sv[lid] = acc;
  ${plan.op === 'sum' ? '' : 'si[lid] = accI;'}
  workgroupBarrier();
  for (var s = ${size / 2}u; s > 0u; s = s >> 1u) {
    if (lid < s) { ${merge} }
    workgroupBarrier();
  }
  if (lid == 0u && in_range) { ${writeResult(plan, 'g', 'sv[0]', plan.op === 'sum' ? '0' : 'si[0]')} }
}
`
  );
}

interface Job {
  x: GpuStorage;
  xi?: GpuStorage;
  y?: GpuStorage;
  yi?: GpuStorage;
  offset: number;
  outer: { shape: number[]; stride: number[] };
  inner: { shape: number[]; stride: number[] };
  chunks: number;
}

function record(op: ReduceOp, dtype: DType, job: Job, schedule: 'thread' | 'group'): void {
  const nOut = job.outer.shape.reduce((a, b) => a * b, 1);
  const nIn = job.inner.shape.reduce((a, b) => a * b, 1);
  const plan: Plan = {
    op,
    type: wgslType(dtype),
    outerRank: job.outer.shape.length,
    innerRank: job.inner.shape.length,
    indexInput: job.xi !== undefined,
    writeValue: job.y !== undefined,
    writeIndex: job.yi !== undefined,
  };
  const key = `reduce:${op}:${plan.type}:${schedule}:o${plan.outerRank}i${plan.innerRank}:${+plan.indexInput}${+plan.writeValue}${+plan.writeIndex}`;
  const chunkLen = Math.ceil(nIn / job.chunks);
  webgpu().queue.dispatch({
    key,
    code: () => (schedule === 'thread' ? threadPerOutput(plan) : workgroupPerOutput(plan)),
    reads: job.xi ? [job.x, job.xi] : [job.x],
    writes: [job.y, job.yi].filter((s): s is GpuStorage => s !== undefined),
    params: params.pack({
      nOut,
      nIn,
      off: job.offset,
      chunks: job.chunks,
      chunkLen,
      oshape: padList(job.outer.shape),
      ostride: padList(job.outer.stride),
      ishape: padList(job.inner.shape),
      istride: padList(job.inner.stride),
    }),
    workgroups: schedule === 'thread' ? grid(Math.ceil(nOut / WG)) : grid(nOut * job.chunks),
    cost: nOut * nIn,
  });
}

/** Which single-pass schedule to use; tests set it to exercise both on one adapter. */
let forcedSchedule: 'thread' | 'group' | undefined;
export function forceReduceSchedule(s: 'thread' | 'group' | undefined): void {
  forcedSchedule = s;
}

/** Rows at least this long, when there are few outputs, are split into chunks reduced in a first pass. */
const SPLIT_ROW = 1 << 15;
const CHUNK = 1 << 13;

function reduce(op: ReduceOp, x: View, out: View, dims: readonly number[]): void {
  const strides = contiguousStrides(x.shape);
  const keptDims = x.shape.map((_, d) => d).filter((d) => !dims.includes(d));
  const walkOf = (ds: number[]) => {
    const w = coalesce(ds.map((d) => x.shape[d]!), [ds.map((d) => strides[d]!)]);
    return { shape: w.shape, stride: w.strides[0]! };
  };
  const outer = walkOf(keptDims);
  const inner = walkOf([...dims]);
  const nOut = outer.shape.reduce((a, b) => a * b, 1);
  const nIn = inner.shape.reduce((a, b) => a * b, 1);
  if (nOut === 0) return;
  const { queue, adapter } = webgpu();
  const xs = x.storage as GpuStorage;
  const target = out.storage as GpuStorage;
  const final = isArg(op) ? { yi: target } : { y: target };

  if (nIn >= SPLIT_ROW && nOut < 64) {
    const chunks = Math.ceil(nIn / CHUNK);
    const partials = queue.scratch(target, x.dtype, nOut * chunks);
    const partialIndices = isArg(op) ? queue.scratch(target, 'int32', nOut * chunks) : undefined;
    record(op, x.dtype, { x: xs, y: partials, yi: partialIndices, offset: x.offset, outer, inner, chunks }, 'group');
    const rows = { shape: [nOut], stride: [chunks] };
    const row = { shape: [chunks], stride: [1] };
    record(op, x.dtype, { x: partials, xi: partialIndices, ...final, offset: 0, outer: rows, inner: row, chunks: 1 }, 'group');
    queue.dropScratch(partials);
    if (partialIndices) queue.dropScratch(partialIndices);
    return;
  }
  const manyOutputs = adapter.isCpu ? nOut >= 64 : nOut >= 8192 && nIn < 64;
  const schedule = forcedSchedule ?? (nIn < 32 || manyOutputs ? 'thread' : 'group');
  record(op, x.dtype, { x: xs, ...final, offset: x.offset, outer, inner, chunks: 1 }, schedule);
}

function kernelFor(op: ReduceOp): Kernel<ReduceAttrs> {
  return ([x], [out], { dims }) => reduce(op, x!, out!, dims);
}

/**
 * Fused softmax and log_softmax along `dim`: one online pass for the row's maximum and Σ exp(x − shift), one to
 * write (see rows.ts); softmax multiplies by 1 / Σ, computed once per row, rather than divide each element.
 * Autograd differentiates the composite definitions in engine/ops/reduce.ts.
 */
function softmaxKernel(log: boolean): Kernel<{ dim: number }> {
  const op: RowOp = { key: log ? 'log_softmax' : 'softmax', passes: [SOFTMAX_PASS], write: log ? 'v - row_shift - log_(row_sum)' : 'exp(v - row_shift) * (1.0 / row_sum)', extras: [] };
  return ([x], [out], { dim }) => {
    const len = x!.shape[dim] ?? 1;
    const inner = x!.shape.slice(dim + 1).reduce((a, b) => a * b, 1);
    rowKernel(op, x!, out!, x!.shape.reduce((a, b) => a * b, 1) / Math.max(1, len), len, inner);
  };
}

export const reduceKernels: Record<string, Kernel> = {
  softmax: softmaxKernel(false),
  log_softmax: softmaxKernel(true),
  sum: kernelFor('sum'),
  amax: kernelFor('amax'),
  amin: kernelFor('amin'),
  argmax: kernelFor('argmax'),
  argmin: kernelFor('argmin'),
};
