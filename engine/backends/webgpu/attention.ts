import type { Kernel, View } from '../../backend.js';
import type { AttentionAttrs } from '../../ops/attention.js';
import { broadcastStrides } from '../cpu/strided.js';
import { attentionBackwardKernel } from './attention-backward.js';
import { KEY_BLOCK, ROWS_PER_GROUP, accumulateRow, blockScores, loadRow, maskBinding, maskStrides, storeRow, unroll, zeros, type AttentionVariant as Variant } from './attention-wgsl.js';
import type { GpuStorage } from './buffers.js';
import { webgpu } from './context.js';
import { coalesce, offsetsWgsl, padList } from './layout.js';
import { ParamLayout } from './params.js';
import { grid } from './queue.js';
import { F32_MATH, bindings } from './wgsl.js';

/*
 * Fused scaled-dot-product attention (flash attention): each invocation owns one query row and walks the keys
 * in blocks of KEY_BLOCK, keeping a running maximum m, a running sum l of exp(score − m) and the output row
 * rescaled whenever m grows (the online softmax), so the L×S scores never exist in memory. Batch dims
 * broadcast through per-operand strides; the mask is read through its broadcast strides too. The backward is
 * in attention-backward.ts.
 */

const params = new ParamLayout({
  L: 'u32',
  S: 'u32',
  E: 'u32',
  Ev: 'u32',
  batches: 'u32',
  rowBlocks: 'u32',
  scale: 'f32',
  offQ: 'u32',
  offK: 'u32',
  offV: 'u32',
  offM: 'u32',
  mRow: 'u32',
  mCol: 'u32',
  shape: 'list',
  sQ: 'list',
  sK: 'list',
  sV: 'list',
  sM: 'list',
});

function forwardShader({ e4, ev4, rank, attrs }: Variant): string {
  const causal = attrs.isCausal;
  return (
    params.wgsl() +
    bindings([['Q', 'f32'], ['K', 'f32'], ['V', 'f32'], ...maskBinding(attrs.mask)], [['O', 'f32']]) +
    F32_MATH +
    `

@compute @workgroup_size(${ROWS_PER_GROUP})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let flat = wid.y * nwg.x + wid.x;
  if (flat >= p.batches * p.rowBlocks) { return; }
  let batch = flat / p.rowBlocks;
  let t0 = (flat % p.rowBlocks) * ${ROWS_PER_GROUP}u;
${offsetsWgsl(rank, 'batch', 'p.shape', [
  { name: 'baseQ', init: 'p.offQ', strides: 'p.sQ' },
  { name: 'baseK', init: 'p.offK', strides: 'p.sK' },
  { name: 'baseV', init: 'p.offV', strides: 'p.sV' },
  { name: 'baseM', init: 'p.offM', strides: 'p.sM' },
])}
  let row = t0 + lid;
  let t = min(row, p.L - 1u);
${loadRow('q', e4, 'Q', 'baseQ + t * p.E', 'p.E', ' * p.scale')}${zeros('acc', ev4)}  var m = -inf_f32();
  var l = 0.0;
  // Causal: no query of this workgroup sees a key past its last row.
  let keys = ${causal ? `min(p.S, t0 + ${ROWS_PER_GROUP}u)` : 'p.S'};
  for (var s0 = 0u; s0 < keys; s0 += ${KEY_BLOCK}u) {
${blockScores(attrs, e4)}    let mNew = max(m, blockMax);
    // While every score so far is −∞ there is nothing to add (and exp(−∞ − (−∞)) would be NaN).
    let seen = mNew != -inf_f32();
    let rescale = select(1.0, exp(m - mNew), seen);
    l *= rescale;
${unroll(ev4, (i) => `    acc${i} *= rescale;
`)}    for (var j = 0u; j < ${KEY_BLOCK}u; j++) {
      let w = select(0.0, exp(scores[j] - mNew), seen);
      l += w;
      let vAt = baseV + min(s0 + j, p.S - 1u) * p.Ev;
${accumulateRow('acc', ev4, 'w', 'V', 'vAt', 'p.Ev')}    }
    m = mNew;
  }
  if (row < p.L) {
    // A row with every key masked has l = 0 and gets NaN, as the composite's softmax gives; no keys at all give 0.
    let inv = select(1.0 / l, 0.0, p.S == 0u);
${storeRow('O', 'acc', ev4, '(batch * p.L + row) * p.Ev', 'p.Ev', 'inv')}  }
}
`
  );
}

/** inputs q [..., L, E], k [..., S, E], v [..., S, Ev] (contiguous, batch dims broadcast) and the mask; output [batch..., L, Ev]. */
const attentionForward: Kernel<AttentionAttrs> = ([q, k, v, mask], [out], attrs) => {
  const [L, E] = q!.shape.slice(-2) as [number, number];
  const [S, Ev] = v!.shape.slice(-2) as [number, number];
  const batchShape = out!.shape.slice(0, -2);
  const batches = batchShape.reduce((a, b) => a * b, 1);
  if (batches === 0 || L === 0 || Ev === 0) return;
  const along = (view: View, rows: number, cols: number) => broadcastStrides(view, [...batchShape, rows, cols]).slice(0, -2);
  const m = maskStrides(mask, batchShape, L, S);
  const walk = coalesce(batchShape, [along(q!, L, E), along(k!, S, E), along(v!, S, Ev), m.batch]);
  const variant: Variant = { e4: Math.max(1, Math.ceil(E / 4)), ev4: Math.ceil(Ev / 4), rank: walk.shape.length, attrs };
  const rowBlocks = Math.ceil(L / ROWS_PER_GROUP);
  const { queue } = webgpu();
  queue.dispatch({
    key: `attention:${variant.e4}:${variant.ev4}:${variant.rank}:${attrs.mask}:${attrs.isCausal}`,
    code: () => forwardShader(variant),
    reads: [q!, k!, v!, ...(mask ? [mask] : [])].map((t) => t.storage as GpuStorage),
    writes: [out!.storage as GpuStorage],
    params: params.pack({
      L,
      S,
      E,
      Ev,
      batches,
      rowBlocks,
      scale: attrs.scale,
      offQ: q!.offset,
      offK: k!.offset,
      offV: v!.offset,
      offM: mask?.offset ?? 0,
      mRow: m.row,
      mCol: m.col,
      shape: padList(walk.shape),
      sQ: padList(walk.strides[0]!),
      sK: padList(walk.strides[1]!),
      sV: padList(walk.strides[2]!),
      sM: padList(walk.strides[3]!),
    }),
    workgroups: grid(batches * rowBlocks),
    cost: batches * L * S * (E + Ev) * 2,
  });
};

export const attentionKernels: Record<string, Kernel> = {
  scaled_dot_product_attention: attentionForward,
  scaled_dot_product_attention_backward: attentionBackwardKernel,
};
