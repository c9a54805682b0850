import type { Kernel } from '../../backend.js';
import type { AttentionAttrs } from '../../ops/attention.js';
import {
  KEYS_PER_LANE,
  accumulateKeyRows,
  onlineSoftmaxBlock,
  KEY_BLOCK,
  ROWS_PER_GROUP,
  ROW_COST,
  ROW_SLOTS,
  SUBGROUP_COST,
  atColumns,
  blockScores,
  dotWithRow,
  laneColumns,
  laneRows,
  loadRow,
  maskBinding,
  maskScore,
  maskStrides,
  maskedFunction,
  row4,
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
 * Fused backward of scaled-dot-product attention (FlashAttention-2's, without atomics), in two kernels that
 * rebuild the probabilities P = exp(score − lse) from each query row's log-sum-exp instead of storing them:
 * - a query-row kernel: per query row, the log-sum-exp (one online-softmax pass over the keys) and
 *   D = rowsum(dO∘O), saved for the second kernel (2 floats per row: the only intermediate), then a second pass
 *   over the keys accumulating dQ = scale·Σ_s dS·k_s with dS = P∘(dO·vᵀ − D);
 * - a key-row kernel: per key row, a pass over the queries accumulating dV = Σ_t P·dO_t and
 *   dK = scale·Σ_t dS·q_t.
 * Each row is owned by one workgroup, so nothing is written twice. q, k, v, out and gradOut have the same batch
 * dims (the op expands them); the mask broadcasts through its strides.
 *
 * Two schedules, as for the forward (attention.ts; tuning.ts picks one per adapter):
 * - 'row' (GPUs): one invocation per row, reading the other side's rows at workgroup-uniform addresses;
 * - 'subgroup' (CPU adapters with one fixed subgroup size SG): a workgroup is one subgroup owning ROW_SLOTS·SG
 *   rows, walking the other side in blocks of 4·SG, lane l taking rows b0 + l + SG·c (c < 4) of the block. The
 *   scores and dO·vᵀ come as vec4s (one per owned row, over the lane's four), the owned rows' values reaching
 *   the other lanes by subgroupBroadcast, as in the forward. Then per row of the block, each lane loads its
 *   columns 4·(l + SG·j) + c of the gradients' other factor (k for dQ; q and dO for dK and dV) and takes each
 *   owned row's weight (dS, or P) from the lane that computed it by subgroupShuffle. Nothing is unrolled over
 *   E or Ev but a lane's column vec4s.
 *   The query kernel makes one pass over the keys, not two: dQ = Σ_s P∘(dP − D)·k_s is accumulated with the
 *   online softmax's exp(score − m) in place of P and rescaled whenever the running maximum m grows, then
 *   divided by l at the end, as the forward does its output.
 *   Measured on lavapipe at 8 heads × 256 tokens × 64 dims (device time, interleaved): the key kernel takes
 *   about twice the query kernel's time; with ROW_SLOTS = 4 in the key kernel the backward ran ~20% faster,
 *   but lavapipe took ~60 s to compile that kernel (~17 s with 2 slots); with 1 slot it ran ~15% slower.
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

/**
 * The entry point up to the bases of batch `batch` in every operand, and of the mask through the batch walk;
 * `first` is the workgroup's first row of `rows`, and `index` the builtin naming the invocation.
 */
function prologue({ rank }: Variant, groupSize: number, rows: number, index: string): string {
  return `
@compute @workgroup_size(${groupSize})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, ${index}) {
  let flat = wid.y * nwg.x + wid.x;
  if (flat >= p.batches * p.blocks) { return; }
  let batch = flat / p.blocks;
  let first = (flat % p.blocks) * ${rows}u;
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

/** The 'row' schedule's entry point: one invocation per row. */
function rowPrologue(v: Variant): string {
  return prologue(v, ROWS_PER_GROUP, ROWS_PER_GROUP, '@builtin(local_invocation_index) lid: u32');
}

/** dQ and the per-row statistics (lse, D); one invocation per query row. */
function queryRowsShader(v: Variant): string {
  const { e4, ev4, attrs } = v;
  return (
    header(v, [], [['DQ', 'f32'], ['STATS_OUT', 'f32']]) +
    rowPrologue(v) +
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
    rowPrologue(v) +
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

/** What a 'subgroup' shader unrolls over: the owned rows, and a lane's column vec4s of the E and Ev columns. */
interface SubgroupShape {
  SG: number;
  quadsE: number;
  quadsEv: number;
}

/** The 'subgroup' schedule's entry point: one subgroup, ROW_SLOTS·SG rows per workgroup. */
function subgroupPrologue(v: Variant, SG: number): string {
  return prologue(v, SG, ROW_SLOTS * SG, '@builtin(subgroup_invocation_id) lane: u32');
}

/**
 * The vec4s x<r> = Σ_e A[aAt + e]·B[own<i> + e] over e < len for each owned row r (kept in lane r % SG, slot
 * i = r / SG): each lane loads its four rows of A and its owned rows of B, broadcast to the other lanes.
 */
function laneDots(x: string, SG: number, A: string, aAt: string, B: string, own: string, len: string): string {
  const rows = ROW_SLOTS * SG;
  return `${unroll(rows, (r) => `    var ${x}${r} = vec4<f32>();\n`)}    for (var e = 0u; e < ${len}; e++) {
      let a = vec4<f32>(${A}[${aAt}.x + e], ${A}[${aAt}.y + e], ${A}[${aAt}.z + e], ${A}[${aAt}.w + e]);
${unroll(ROW_SLOTS, (i) => `      let b${i} = ${B}[${own}${i} + e];\n`)}${unroll(
    rows,
    (r) => `      ${x}${r} = fma(vec4<f32>(subgroupBroadcast(b${Math.floor(r / SG)}, ${r % SG}u)), a, ${x}${r});\n`,
  )}    }
`;
}

/** dQ and the per-row statistics (lse, D) in the 'subgroup' schedule (see the top). */
function subgroupQueryRowsShader(v: Variant, { SG, quadsE }: SubgroupShape): string {
  const { attrs } = v;
  const rows = ROW_SLOTS * SG;
  const block = KEYS_PER_LANE * SG;
  const perRow = (body: (r: number) => string) => unroll(rows, body);
  const perQuad = (body: (j: number) => string) => unroll(quadsE, body);
  return (
    'enable subgroups;\n' +
    header(v, [], [['DQ', 'f32'], ['STATS_OUT', 'f32']]) +
    maskedFunction(attrs) +
    subgroupPrologue(v, SG) +
    `  // This lane loads query rows first + i·SG + lane of Q and dO for the others (rows past the end load the last
  // row, and store nothing), and accumulates dQ's columns cols<j>.
${unroll(
  ROW_SLOTS,
  (i) => `  let own${i} = min(first + ${i * SG}u + lane, p.L - 1u);
  let qAt${i} = baseQ + own${i} * p.E;
  let gAt${i} = baseG + own${i} * p.Ev;
  var d${i} = 0.0;
`,
)}  for (var e = 0u; e < p.Ev; e++) {
${unroll(ROW_SLOTS, (i) => `    d${i} = fma(G[gAt${i} + e], O[baseO + own${i} * p.Ev + e], d${i});\n`)}  }
${laneColumns('cols', quadsE, SG, 'p.E')}${perRow(
      (r) => `  let D${r} = subgroupBroadcast(d${Math.floor(r / SG)}, ${r % SG}u);
  var m${r} = -inf_f32();
  var l${r} = 0.0;
${zeros(`dq${r}_`, quadsE)}`,
    )}  // Causal: no query of this workgroup sees a key past its last row.
  let keys = ${attrs.isCausal ? `min(p.S, first + ${rows}u)` : 'p.S'};
  for (var s0 = 0u; s0 < keys; s0 += ${block}u) {
    let s = ${laneRows('s0', SG)};
    let kAt = vec4<u32>(baseK) + min(s, vec4<u32>(p.S - 1u)) * p.E;
    let vAt = vec4<u32>(baseV) + min(s, vec4<u32>(p.S - 1u)) * p.Ev;
${laneDots('x', SG, 'K', 'kAt', 'Q', 'qAt', 'p.E')}${laneDots('dp', SG, 'V', 'vAt', 'G', 'gAt', 'p.Ev')}${perRow(
      (r) => `    {
${onlineSoftmaxBlock(r, 'first', 'dq', quadsE)}      // dS, relative to exp(m) as the probabilities are.
      x${r} = prob * (dp${r} - D${r});
    }
`,
    )}${accumulateKeyRows('K', 'baseK', 'p.E', 'dq', rows, quadsE, SG, block)}  }
${perRow(
  (r) => `  {
    let l = subgroupAdd(l${r});
    let t = first + ${r}u;
    if (t < p.L) {
      // A row with every key masked has l = 0, lse = −∞ and a NaN gradient, as the backward op's composite
      // gives; no keys at all give 0.
      let f = select(p.scale / l, 0.0, p.S == 0u);
${perQuad((j) => `      ${storeColumns('DQ', '(batch * p.L + t) * p.E', `dq${r}_${j} * f`, j, SG, 'p.E')}`)}      if (lane == 0u) {
        STATS_OUT[2u * (batch * p.L + t)] = m${r} + log(l);
        STATS_OUT[2u * (batch * p.L + t) + 1u] = D${r};
      }
    }
  }
`,
)}}
`
  );
}

/** dK and dV in the 'subgroup' schedule (see the top). */
function subgroupKeyRowsShader(v: Variant, { SG, quadsE, quadsEv }: SubgroupShape): string {
  const { attrs } = v;
  const rows = ROW_SLOTS * SG;
  const block = KEYS_PER_LANE * SG;
  const perRow = (body: (r: number) => string) => unroll(rows, body);
  return (
    'enable subgroups;\n' +
    header(v, [['STATS', 'f32']], [['DK', 'f32'], ['DV', 'f32']]) +
    maskedFunction(attrs) +
    subgroupPrologue(v, SG) +
    `  // This lane loads key rows first + i·SG + lane of K and V for the others (rows past the end load the last
  // row, and store nothing), and accumulates dK's columns colsE<j> and dV's colsEv<j>.
${unroll(
  ROW_SLOTS,
  (i) => `  let own${i} = min(first + ${i * SG}u + lane, p.S - 1u);
  let kAt${i} = baseK + own${i} * p.E;
  let vAt${i} = baseV + own${i} * p.Ev;
`,
)}${laneColumns('colsE', quadsE, SG, 'p.E')}${laneColumns('colsEv', quadsEv, SG, 'p.Ev')}${perRow((r) => zeros(`dk${r}_`, quadsE) + zeros(`dv${r}_`, quadsEv))}  // Causal: no query before this workgroup's first key sees any of its keys.
  for (var t0 = ${attrs.isCausal ? 'first' : '0u'}; t0 < p.L; t0 += ${block}u) {
    let t = ${laneRows('t0', SG)};
    let tIn = min(t, vec4<u32>(p.L - 1u));
    let qAt = vec4<u32>(baseQ) + tIn * p.E;
    let gAt = vec4<u32>(baseG) + tIn * p.Ev;
    let stat = 2u * (vec4<u32>(batch * p.L) + tIn);
    let lse = vec4<f32>(STATS[stat.x], STATS[stat.y], STATS[stat.z], STATS[stat.w]);
    let D = vec4<f32>(STATS[stat.x + 1u], STATS[stat.y + 1u], STATS[stat.z + 1u], STATS[stat.w + 1u]);
    // Queries past the end add nothing (their clamped copies may carry a fully masked row's NaN statistics).
    let live = t < vec4<u32>(p.L);
${laneDots('x', SG, 'Q', 'qAt', 'K', 'kAt', 'p.E')}${laneDots('dp', SG, 'G', 'gAt', 'V', 'vAt', 'p.Ev')}    // x<r> becomes P, and dp<r> dS.
${perRow(
      (r) => `    {
      let s = min(first + ${r}u, p.S - 1u);
      let y = x${r} * p.scale;
      let z = vec4<f32>(masked(y.x, tIn.x, s, baseM), masked(y.y, tIn.y, s, baseM), masked(y.z, tIn.z, s, baseM), masked(y.w, tIn.w, s, baseM));
      x${r} = select(vec4<f32>(), exp(z - lse), live);
      dp${r} = select(vec4<f32>(), x${r} * (dp${r} - D), live);
    }
`,
    )}    // Query t0 + k's P and dS came from lane k % SG, in component k / SG; queries past the end are skipped.
    for (var k = 0u; k < min(${block}u, p.L - t0); k++) {
      let qRow = baseQ + (t0 + k) * p.E;
      let gRow = baseG + (t0 + k) * p.Ev;
${unroll(quadsE, (j) => `      let q${j} = ${atColumns('Q', 'qRow', `colsE${j}`)};\n`)}${unroll(
      quadsEv,
      (j) => `      let g${j} = ${atColumns('G', 'gRow', `colsEv${j}`)};\n`,
    )}      let c = k / ${SG}u;
      let owner = k % ${SG}u;
${perRow(
  (r) => `      {
        let prob = vec4<f32>(subgroupShuffle(x${r}[c], owner));
        let ds = vec4<f32>(subgroupShuffle(dp${r}[c], owner));
${unroll(quadsEv, (j) => `        dv${r}_${j} = fma(prob, g${j}, dv${r}_${j});\n`)}${unroll(quadsE, (j) => `        dk${r}_${j} = fma(ds, q${j}, dk${r}_${j});\n`)}      }
`,
)}    }
  }
${perRow(
  (r) => `  if (first + ${r}u < p.S) {
    let at = batch * p.S + first + ${r}u;
${unroll(quadsE, (j) => `    ${storeColumns('DK', 'at * p.E', `dk${r}_${j} * p.scale`, j, SG, 'p.E')}`)}${unroll(
    quadsEv,
    (j) => `    ${storeColumns('DV', 'at * p.Ev', `dv${r}_${j}`, j, SG, 'p.Ev')}`,
  )}  }
`,
)}}
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
  const { queue, adapter } = webgpu();
  const SG = adapter.subgroupMinSize;
  const bySubgroup = attentionSchedule(adapter) === 'subgroup';
  const shape: SubgroupShape = { SG, quadsE: Math.ceil(E / (4 * SG)), quadsEv: Math.ceil(Ev / (4 * SG)) };
  const kind = `${variant.rank}:${attrs.mask}:${attrs.isCausal}`;
  const key = bySubgroup ? `subgroup${SG}:${shape.quadsE}:${shape.quadsEv}:${kind}` : `${variant.e4}:${variant.ev4}:${kind}`;
  const rowsPerGroup = bySubgroup ? ROW_SLOTS * SG : ROWS_PER_GROUP;
  const costPerFma = bySubgroup ? SUBGROUP_COST : ROW_COST;
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
  const inputs = [q!, k!, v!, out!, gradOut!, ...(mask ? [mask] : [])].map((t) => t.storage as GpuStorage);
  const stats = queue.scratch(q!.storage as GpuStorage, 'float32', Math.max(1, 2 * batches * L));
  const queryBlocks = Math.ceil(L / rowsPerGroup);
  const keyBlocks = Math.ceil(S / rowsPerGroup);
  queue.dispatch({
    key: `attention-backward-queries:${key}`,
    code: () => (bySubgroup ? subgroupQueryRowsShader(variant, shape) : queryRowsShader(variant)),
    reads: inputs,
    writes: [dq!.storage as GpuStorage, stats],
    params: values(queryBlocks),
    workgroups: grid(batches * queryBlocks),
    cost: batches * L * S * ((bySubgroup ? 2 : 3) * E + Ev) * costPerFma,
  });
  queue.dispatch({
    key: `attention-backward-keys:${key}`,
    code: () => (bySubgroup ? subgroupKeyRowsShader(variant, shape) : keyRowsShader(variant)),
    reads: [...inputs, stats],
    writes: [dk!.storage as GpuStorage, dv!.storage as GpuStorage],
    params: values(keyBlocks),
    workgroups: grid(batches * keyBlocks),
    cost: batches * L * S * (2 * E + 2 * Ev) * costPerFma,
  });
  queue.dropScratch(stats);
};
