import type { Kernel } from '../../backend.js';
import type { AttentionAttrs } from '../../ops/attention.js';
import { KEY_BLOCK, ROWS_PER_GROUP, blockScores, dotWithRow, loadRow, maskBinding, maskScore, maskStrides, row4, storeRow, unroll, zeros, type AttentionVariant as Variant } from './attention-wgsl.js';
import type { GpuStorage } from './buffers.js';
import { webgpu } from './context.js';
import { coalesce, offsetsWgsl, padList } from './layout.js';
import { ParamLayout } from './params.js';
import { grid } from './queue.js';
import { F32_MATH, bindings } from './wgsl.js';

/*
 * Fused backward of scaled-dot-product attention (FlashAttention-2's, without atomics), in two kernels that
 * rebuild the probabilities P = exp(score − lse) from each query row's log-sum-exp instead of storing them:
 * - a query-row kernel: per query row, the log-sum-exp (one online-softmax pass over the keys) and
 *   D = rowsum(dO∘O), saved for the second kernel (2 floats per row: the only intermediate), then a second pass
 *   over the keys accumulating dQ = scale·Σ_s dS·k_s with dS = P∘(dO·vᵀ − D);
 * - a key-row kernel: per key row, a pass over the queries accumulating dV = Σ_t P·dO_t and
 *   dK = scale·Σ_t dS·q_t.
 * Each row is owned by one invocation, so nothing is written twice. q, k, v, out and gradOut have the same batch
 * dims (the op expands them); the mask broadcasts through its strides.
 */

const params = new ParamLayout({
  L: 'u32',
  S: 'u32',
  E: 'u32',
  Ev: 'u32',
  batches: 'u32',
  blocks: 'u32',
  scale: 'f32',
  offQ: 'u32',
  offK: 'u32',
  offV: 'u32',
  offO: 'u32',
  offG: 'u32',
  offM: 'u32',
  mRow: 'u32',
  mCol: 'u32',
  shape: 'list',
  sM: 'list',
});

/** Bases of batch `batch` in every operand, and of the mask through the batch walk. */
function prologue({ rank }: Variant): string {
  return `
@compute @workgroup_size(${ROWS_PER_GROUP})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let flat = wid.y * nwg.x + wid.x;
  if (flat >= p.batches * p.blocks) { return; }
  let batch = flat / p.blocks;
  let first = (flat % p.blocks) * ${ROWS_PER_GROUP}u;
${offsetsWgsl(rank, 'batch', 'p.shape', [{ name: 'baseM', init: 'p.offM', strides: 'p.sM' }])}
  let baseQ = p.offQ + batch * p.L * p.E;
  let baseK = p.offK + batch * p.S * p.E;
  let baseV = p.offV + batch * p.S * p.Ev;
  let baseO = p.offO + batch * p.L * p.Ev;
  let baseG = p.offG + batch * p.L * p.Ev;
`;
}

function header(v: Variant, extraReads: [string, string][], writes: [string, string][]): string {
  const reads: [string, string][] = [['Q', 'f32'], ['K', 'f32'], ['V', 'f32'], ['O', 'f32'], ['G', 'f32'], ...maskBinding(v.attrs.mask), ...extraReads];
  return `${params.wgsl()}${bindings(reads, writes)}${F32_MATH}`;
}

/** dQ and the per-row statistics (lse, D); one invocation per query row. */
function queryRowsShader(v: Variant): string {
  const { e4, ev4, attrs } = v;
  return (
    header(v, [], [['DQ', 'f32'], ['STATS_OUT', 'f32']]) +
    prologue(v) +
    `  let row = first + lid;
  let t = min(row, p.L - 1u);
${loadRow('q', e4, 'Q', 'baseQ + t * p.E', 'p.E', ' * p.scale')}${loadRow('g', ev4, 'G', 'baseG + t * p.Ev', 'p.Ev')}  let D = ${dotWithRow('g', ev4, 'O', 'baseO + t * p.Ev', 'p.Ev')};
  let keys = ${attrs.isCausal ? `min(p.S, first + ${ROWS_PER_GROUP}u)` : 'p.S'};
  var m = -inf_f32();
  var l = 0.0;
  for (var s0 = 0u; s0 < keys; s0 += ${KEY_BLOCK}u) {
${blockScores(attrs, e4)}    let mNew = max(m, blockMax);
    let seen = mNew != -inf_f32();
    l *= select(1.0, exp(m - mNew), seen);
    for (var j = 0u; j < ${KEY_BLOCK}u; j++) { l += select(0.0, exp(scores[j] - mNew), seen); }
    m = mNew;
  }
  // A row with every key masked gets lse = −∞ and NaN probabilities, as the composite's softmax gives.
  let lse = m + log(l);
${zeros('dq', e4)}  for (var s = 0u; s < keys; s++) {
    let kAt = baseK + s * p.E;
${unroll(e4, (i) => `    let k${i} = ${row4('K', 'kAt', i, 'p.E')};\n`)}    var x = dot(${unroll(e4, (i) => `fma(q${i}, k${i}, `)}vec4<f32>()${')'.repeat(e4)}, vec4<f32>(1.0));
    ${maskScore(attrs)}
    let prob = exp(x - lse);
    let ds = prob * (${dotWithRow('g', ev4, 'V', 'baseV + s * p.Ev', 'p.Ev')} - D);
${unroll(e4, (i) => `    dq${i} = fma(vec4<f32>(ds), k${i}, dq${i});\n`)}  }
  if (row < p.L) {
${storeRow('DQ', 'dq', e4, '(batch * p.L + row) * p.E', 'p.E', 'p.scale')}    STATS_OUT[2u * (batch * p.L + row)] = lse;
    STATS_OUT[2u * (batch * p.L + row) + 1u] = D;
  }
}
`
  );
}

/** dK and dV; one invocation per key row. */
function keyRowsShader(v: Variant): string {
  const { e4, ev4, attrs } = v;
  return (
    header(v, [['STATS', 'f32']], [['DK', 'f32'], ['DV', 'f32']]) +
    prologue(v) +
    `  let col = first + lid;
  let s = min(col, p.S - 1u);
${loadRow('k', e4, 'K', 'baseK + s * p.E', 'p.E')}${loadRow('v', ev4, 'V', 'baseV + s * p.Ev', 'p.Ev')}${zeros('dk', e4)}${zeros('dv', ev4)}  // Causal: no query before this workgroup's first key sees any of its keys.
  for (var t = ${attrs.isCausal ? 'first' : '0u'}; t < p.L; t++) {
    let qAt = baseQ + t * p.E;
    let gAt = baseG + t * p.Ev;
${unroll(e4, (i) => `    let q${i} = ${row4('Q', 'qAt', i, 'p.E')};\n`)}    var x = dot(${unroll(e4, (i) => `fma(q${i} * p.scale, k${i}, `)}vec4<f32>()${')'.repeat(e4)}, vec4<f32>(1.0));
    ${maskScore(attrs)}
    let stat = 2u * (batch * p.L + t);
    let prob = exp(x - STATS[stat]);
${unroll(ev4, (i) => `    let g${i} = ${row4('G', 'gAt', i, 'p.Ev')};\n    dv${i} = fma(vec4<f32>(prob), g${i}, dv${i});\n`)}    let ds = prob * (dot(${unroll(ev4, (i) => `fma(g${i}, v${i}, `)}vec4<f32>()${')'.repeat(ev4)}, vec4<f32>(1.0)) - STATS[stat + 1u]);
${unroll(e4, (i) => `    dk${i} = fma(vec4<f32>(ds), q${i}, dk${i});\n`)}  }
  if (col < p.S) {
${storeRow('DK', 'dk', e4, '(batch * p.S + col) * p.E', 'p.E', 'p.scale')}${storeRow('DV', 'dv', ev4, '(batch * p.S + col) * p.Ev', 'p.Ev', '1.0')}  }
}
`
  );
}

/** inputs q, k, v, out, gradOut (contiguous, equal batch dims) and the mask; outputs dq, dk, dv. */
export const attentionBackwardKernel: Kernel<AttentionAttrs> = ([q, k, v, out, gradOut, mask], [dq, dk, dv], attrs) => {
  const [L, E] = q!.shape.slice(-2) as [number, number];
  const [S, Ev] = v!.shape.slice(-2) as [number, number];
  const batchShape = q!.shape.slice(0, -2);
  const batches = batchShape.reduce((a, b) => a * b, 1);
  if (batches === 0) return;
  const m = maskStrides(mask, batchShape, L, S);
  const walk = coalesce(batchShape, [m.batch]);
  const variant: Variant = { e4: Math.max(1, Math.ceil(E / 4)), ev4: Math.max(1, Math.ceil(Ev / 4)), rank: walk.shape.length, attrs };
  const key = `${variant.e4}:${variant.ev4}:${variant.rank}:${attrs.mask}:${attrs.isCausal}`;
  const values = (blocks: number) =>
    params.pack({
      L,
      S,
      E,
      Ev,
      batches,
      blocks,
      scale: attrs.scale,
      offQ: q!.offset,
      offK: k!.offset,
      offV: v!.offset,
      offO: out!.offset,
      offG: gradOut!.offset,
      offM: mask?.offset ?? 0,
      mRow: m.row,
      mCol: m.col,
      shape: padList(walk.shape),
      sM: padList(walk.strides[0]!),
    });
  const { queue } = webgpu();
  const inputs = [q!, k!, v!, out!, gradOut!, ...(mask ? [mask] : [])].map((t) => t.storage as GpuStorage);
  const stats = queue.scratch(q!.storage as GpuStorage, 'float32', Math.max(1, 2 * batches * L));
  const queryBlocks = Math.ceil(L / ROWS_PER_GROUP);
  const keyBlocks = Math.ceil(S / ROWS_PER_GROUP);
  queue.dispatch({
    key: `attention-backward-queries:${key}`,
    code: () => queryRowsShader(variant),
    reads: inputs,
    writes: [dq!.storage as GpuStorage, stats],
    params: values(queryBlocks),
    workgroups: grid(batches * queryBlocks),
    cost: batches * L * S * (3 * E + Ev) * 2,
  });
  queue.dispatch({
    key: `attention-backward-keys:${key}`,
    code: () => keyRowsShader(variant),
    reads: [...inputs, stats],
    writes: [dk!.storage as GpuStorage, dv!.storage as GpuStorage],
    params: values(keyBlocks),
    workgroups: grid(batches * keyBlocks),
    cost: batches * L * S * (2 * E + 2 * Ev) * 2,
  });
  queue.dropScratch(stats);
};
