import type { Kernel, View } from '../../backend.js';
import { contiguousStrides } from '../../shape.js';
import { webgpu } from './context.js';
import { elementwise } from './elementwise.js';
import { coalesce, offsetsWgsl, padList } from './layout.js';
import { ParamLayout, at } from './params.js';
import { grid } from './queue.js';
import { MAIN_1D, WG, bindings, storagesOf, wgslType } from './wgsl.js';

/**
 * Indexing along one dim with int32 indices. gather and index_select read `x` at the position whose `dim`
 * coordinate the index supplies. scatter_add is deterministic without atomics: each output element gathers the
 * contributions aimed at it, scanning the index along `dim` in increasing order (the order the CPU adds them in),
 * so repeated indices always sum the same way.
 *
 * Indices are not checked against the tensor's size on the device (that would need a read-back); an index out
 * of range reads NaN (0 for int32) and is ignored by scatter_add, instead of touching memory outside the tensor.
 */

interface DimAttrs {
  dim: number;
}

/** A 0-d tensor has no stride; its single element is index 0 along dim 0. */
const strideAlong = (v: View, dim: number) => v.strides[dim] ?? 0;

const gatherParams = new ParamLayout({
  n: 'u32',
  size: 'u32',
  step: 'u32',
  off0: 'u32',
  off1: 'u32',
  off2: 'u32',
  shape: 'list',
  s0: 'list',
  s1: 'list',
  s2: 'list',
});

/** out[p] = x[p with coordinate `dim` replaced by index[p]], over the output's positions. */
function gatherInto(x: View, index: View, out: View, dim: number): void {
  const n = out.shape.reduce((a, b) => a * b, 1);
  if (n === 0) return;
  // x walked over the output's shape with its own strides, except along `dim` where the index decides.
  const xStrides = out.shape.map((_, d) => (d === dim ? 0 : x.strides[d]!));
  const walk = coalesce(out.shape, [xStrides, index.strides as number[], contiguousStrides(out.shape)]);
  const t = wgslType(x.dtype);
  const missing = t === 'f32' ? 'nan_f32()' : '0';
  webgpu().queue.dispatch({
    key: `gather:${t}:r${walk.shape.length}`,
    code: () =>
      gatherParams.wgsl() +
      bindings([['x', t], ['index', 'i32']], [['out', t]]) +
      'fn nan_f32() -> f32 { var bits = 0x7fc00000u; return bitcast<f32>(bits); }\n' +
      MAIN_1D +
      `
  if (i >= p.n) { return; }
${offsetsWgsl(walk.shape.length, 'i', 'p.shape', [0, 1, 2].map((k) => ({ name: `off${k}`, init: `p.off${k}`, strides: `p.s${k}` })))}
  let j = index[off1];
  if (j < 0 || u32(j) >= p.size) { out[off2] = ${missing}; return; }
  out[off2] = x[off0 + u32(j) * p.step];
}
`,
    reads: storagesOf([x, index]),
    writes: storagesOf([out]),
    params: gatherParams.pack({
      n,
      size: x.shape[dim] ?? 1,
      step: strideAlong(x, dim) >>> 0,
      off0: x.offset,
      off1: index.offset,
      off2: out.offset,
      shape: padList(walk.shape),
      s0: padList(walk.strides[0]!),
      s1: padList(walk.strides[1]!),
      s2: padList(walk.strides[2]!),
    }),
    workgroups: grid(Math.ceil(n / WG)),
    cost: n * 2,
  });
}

const gather: Kernel<DimAttrs> = ([x, index], [out], { dim }) => gatherInto(x!, index!, out!, dim);

/** index_select is a gather whose 1-D index is broadcast over every dim but `dim`. */
const indexSelect: Kernel<DimAttrs> = ([x, index], [out], { dim }) => {
  const spread: View = { ...index!, shape: out!.shape, strides: out!.shape.map((_, d) => (d === dim ? strideAlong(index!, 0) : 0)) };
  gatherInto(x!, spread, out!, dim);
};

const scatterParams = new ParamLayout({
  n: 'u32',
  rank: 'u32',
  count: 'u32',
  dim: 'u32',
  offIndex: 'u32',
  offSrc: 'u32',
  outShape: 'list',
  indexShape: 'list',
  indexStride: 'list',
  srcStride: 'list',
});

/**
 * out = x, then for every output element (coordinates c, with c[dim] = j): out += src[q] for each q in the
 * index's box with q = c off `dim`, taken in increasing q[dim], where index[q] = j.
 */
const scatterAdd: Kernel<DimAttrs> = ([x, index, src], [out], { dim }) => {
  elementwise('copy', [x!], out!);
  const n = out!.shape.reduce((a, b) => a * b, 1);
  if (n === 0 || index!.shape.reduce((a, b) => a * b, 1) === 0) return;
  const rank = Math.max(1, out!.shape.length);
  const list = (v: readonly number[]) => padList(v.length ? v : [1]);
  const t = wgslType(out!.dtype);
  const dims = Array.from({ length: rank }, (_, d) => d);
  webgpu().queue.dispatch({
    key: `scatter_add:${t}:r${rank}`,
    code: () =>
      scatterParams.wgsl() +
      bindings([['index', 'i32'], ['src', t]], [['out', t]]) +
      MAIN_1D +
      `
  if (i >= p.n) { return; }
  // The output element's coordinates, and whether the index box covers them off \`dim\`.
  var rem = i;
  var coords: array<u32, ${rank}>;
${dims
  .slice()
  .reverse()
  .map((d) => `  coords[${d}] = rem % ${at('p.outShape', d)}; rem = rem / ${at('p.outShape', d)};`)
  .join('\n')}
  var base_index = p.offIndex;
  var base_src = p.offSrc;
  for (var d = 0u; d < p.rank; d++) {
    if (d == p.dim) { continue; }
    if (coords[d] >= ${at('p.indexShape', 'd')}) { return; }
    base_index += coords[d] * ${at('p.indexStride', 'd')};
    base_src += coords[d] * ${at('p.srcStride', 'd')};
  }
  let wanted = i32(coords[p.dim]);
  let step_index = ${at('p.indexStride', 'p.dim')};
  let step_src = ${at('p.srcStride', 'p.dim')};
  var acc = out[i];
  for (var q = 0u; q < p.count; q++) {
    if (index[base_index + q * step_index] == wanted) { acc = acc + src[base_src + q * step_src]; }
  }
  out[i] = acc;
}
`,
    reads: storagesOf([index!, src!]),
    writes: storagesOf([out!]),
    params: scatterParams.pack({
      n,
      rank,
      count: index!.shape[dim] ?? 1,
      dim,
      offIndex: index!.offset,
      offSrc: src!.offset,
      outShape: list(out!.shape),
      indexShape: list(index!.shape),
      indexStride: list(index!.strides.map((s) => s >>> 0)),
      srcStride: list(src!.strides.map((s) => s >>> 0)),
    }),
    workgroups: grid(Math.ceil(n / WG)),
    cost: n * (index!.shape[dim] ?? 1),
  });
};

export const indexingKernels: Record<string, Kernel> = { index_select: indexSelect, gather, scatter_add: scatterAdd };
