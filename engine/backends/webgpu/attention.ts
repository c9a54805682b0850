import type { Kernel, View } from '../../backend.js';
import type { AttentionAttrs } from '../../ops/attention.js';
import { broadcastStrides } from '../cpu/strided.js';
import { attentionBackwardKernel } from './attention-backward.js';
import {
  KEYS_PER_LANE,
  KEY_BLOCK,
  ROWS_PER_GROUP,
  ROW_COST,
  ROW_SLOTS,
  SUBGROUP_COST,
  accumulateKeyRows,
  onlineSoftmaxBlock,
  accumulateRow,
  blockScores,
  laneColumns,
  laneRows,
  loadRow,
  maskBinding,
  maskStrides,
  maskedFunction,
  storeColumns,
  storeRow,
  unroll,
  zeros,
  type AttentionVariant as Variant,
} from './attention-wgsl.js';
import type { GpuStorage } from './buffers.js';
import { webgpu } from './context.js';
import { coalesce, offsetsWgsl, padList } from './layout.js';
import { ParamLayout } from './params.js';
import { grid } from './queue.js';
import { attentionSchedule } from './tuning.js';
import { F32_MATH, bindings } from './wgsl.js';

/*
 * Fused scaled-dot-product attention (flash attention): the keys are walked in blocks, keeping per query row a
 * running maximum m, a running sum l of exp(score − m) and the output row rescaled whenever m grows (the online
 * softmax), so the L×S scores never exist in memory. Batch dims broadcast through per-operand strides; the mask
 * is read through its broadcast strides too. The backward is in attention-backward.ts.
 *
 * Two schedules share out the work (tuning.ts picks one per adapter):
 * - 'row' (GPUs): each invocation owns one query row and walks the keys in blocks of KEY_BLOCK, reading each
 *   key row at an address uniform across the workgroup (see attention-wgsl.ts).
 * - 'subgroup' (CPU adapters with one fixed subgroup size SG): a workgroup is one subgroup owning ROW_SLOTS·SG
 *   query rows, and walks the keys in blocks of 4·SG, lane l scoring keys s0 + l + SG·c (c < 4, a vec4 of
 *   scores per query row). For the scores, per e each lane loads its four keys' K[s, e] and ROW_SLOTS query
 *   values, which reach the other lanes by subgroupBroadcast. For P·V, lane l owns output columns
 *   4·(l + SG·j) + c; per key it loads those of V's row and takes each row's weight from the lane that scored
 *   the key by subgroupShuffle. Each row's block maximum is a subgroupMax, so all lanes rescale alike; each
 *   lane keeps its own part of l, summed at the end. Nothing is unrolled over E, and over Ev only by a lane's
 *   column vec4s (⌈Ev/4SG⌉), which keeps lavapipe's compile to seconds at head dim 64.
 *
 * Why 'subgroup' on lavapipe: llvmpipe loads storage at a lane-varying address in a loop over the lanes (a
 * bounds check and a branch per lane), and at a uniform address inside a loop through a branch per load, so
 * what counts is multiply-adds per load. 'row' does one load per multiply-add; here a lane's load feeds about
 * 11 of the scores' (ROW_SLOTS = 2, SG = 8) and 16 of P·V's. Measured at 8 heads × 256 tokens × 64 dims, in
 * one process: uniform query loads in place of the broadcasts ran 3× slower; 4 row slots ran about as fast as
 * 2 but took lavapipe 20–40 s to compile; vec4 loads along e (aligned operands) gained nothing.
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

/**
 * Parameters, bindings (and `helpers`), then the entry point up to the batch's bases: a workgroup of `groupSize`
 * invocations owns query rows t0 … t0 + rows − 1 of batch `batch`; `index` declares the invocation's builtin.
 */
function entry({ rank, attrs }: Variant, groupSize: number, rows: number, index: string, helpers = ''): string {
  return (
    params.wgsl() +
    bindings([['Q', 'f32'], ['K', 'f32'], ['V', 'f32'], ...maskBinding(attrs.mask)], [['O', 'f32']]) +
    F32_MATH +
    helpers +
    `
@compute @workgroup_size(${groupSize})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, ${index}) {
  let flat = wid.y * nwg.x + wid.x;
  if (flat >= p.batches * p.rowBlocks) { return; }
  let batch = flat / p.rowBlocks;
  let t0 = (flat % p.rowBlocks) * ${rows}u;
${offsetsWgsl(rank, 'batch', 'p.shape', [
  { name: 'baseQ', init: 'p.offQ', strides: 'p.sQ' },
  { name: 'baseK', init: 'p.offK', strides: 'p.sK' },
  { name: 'baseV', init: 'p.offV', strides: 'p.sV' },
  { name: 'baseM', init: 'p.offM', strides: 'p.sM' },
])}`
  );
}

function forwardShader(v: Variant): string {
  const { e4, ev4, attrs } = v;
  const causal = attrs.isCausal;
  return (
    entry(v, ROWS_PER_GROUP, ROWS_PER_GROUP, '@builtin(local_invocation_index) lid: u32') +
    `
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

/** The 'subgroup' schedule for subgroups of SG lanes, each holding `quads` vec4s of every output row (see the top). */
function subgroupForwardShader(v: Variant, SG: number, quads: number): string {
  const { attrs } = v;
  const rows = ROW_SLOTS * SG;
  const block = KEYS_PER_LANE * SG;
  const perRow = (body: (r: number) => string) => unroll(rows, body);
  const perQuad = (body: (j: number) => string) => unroll(quads, body);
  return (
    'enable subgroups;\n' +
    entry(v, SG, rows, '@builtin(subgroup_invocation_id) lane: u32', maskedFunction(attrs)) +
    `
  // This lane loads query row t0 + i·SG + lane for the others (rows past the end load the last row, and store
  // nothing), and reads and writes output columns cols<j>.
${unroll(ROW_SLOTS, (i) => `  let qAt${i} = baseQ + min(t0 + ${i * SG}u + lane, p.L - 1u) * p.E;\n`)}${laneColumns('cols', quads, SG, 'p.Ev')}${perRow((r) => `  var m${r} = -inf_f32();\n  var l${r} = 0.0;\n${zeros(`acc${r}_`, quads)}`)}  // Causal: no query of this workgroup sees a key past its last row.
  let keys = ${attrs.isCausal ? `min(p.S, t0 + ${rows}u)` : 'p.S'};
  for (var s0 = 0u; s0 < keys; s0 += ${block}u) {
    let s = ${laneRows('s0', SG)};
    let kAt = vec4<u32>(baseK) + min(s, vec4<u32>(p.S - 1u)) * p.E;
${perRow((r) => `    var x${r} = vec4<f32>();\n`)}    for (var e = 0u; e < p.E; e++) {
      let k = vec4<f32>(K[kAt.x + e], K[kAt.y + e], K[kAt.z + e], K[kAt.w + e]);
${unroll(ROW_SLOTS, (i) => `      let q${i} = Q[qAt${i} + e];\n`)}${perRow(
      (r) => `      x${r} = fma(vec4<f32>(subgroupBroadcast(q${Math.floor(r / SG)}, ${r % SG}u)), k, x${r});\n`,
    )}    }
${perRow(
  (r) => `    {
${onlineSoftmaxBlock(r, 't0', 'acc', quads)}      x${r} = prob;
    }
`,
)}${accumulateKeyRows('V', 'baseV', 'p.Ev', 'acc', rows, quads, SG, block)}  }
${perRow(
  (r) => `  {
    // A row with every key masked has l = 0 and gets NaN, as the composite's softmax gives; no keys at all give 0.
    let l = subgroupAdd(l${r});
    let t = t0 + ${r}u;
    if (t < p.L) {
      let inv = select(1.0 / l, 0.0, p.S == 0u);
${perQuad((j) => `      ${storeColumns('O', '(batch * p.L + t) * p.Ev', `acc${r}_${j} * inv`, j, SG, 'p.Ev')}`)}    }
  }
`,
)}}
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
  const { queue, adapter } = webgpu();
  const SG = adapter.subgroupMinSize;
  const quads = Math.ceil(Ev / (4 * SG));
  const bySubgroup = attentionSchedule(adapter) === 'subgroup';
  const rowBlocks = Math.ceil(L / (bySubgroup ? ROW_SLOTS * SG : ROWS_PER_GROUP));
  const kind = `${variant.rank}:${attrs.mask}:${attrs.isCausal}`;
  queue.dispatch({
    key: bySubgroup ? `attention:subgroup${SG}:${quads}:${kind}` : `attention:${variant.e4}:${variant.ev4}:${kind}`,
    code: () => (bySubgroup ? subgroupForwardShader(variant, SG, quads) : forwardShader(variant)),
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
    cost: batches * L * S * (E + Ev) * (bySubgroup ? SUBGROUP_COST : ROW_COST),
  });
};

export const attentionKernels: Record<string, Kernel> = {
  scaled_dot_product_attention: attentionForward,
  scaled_dot_product_attention_backward: attentionBackwardKernel,
};
