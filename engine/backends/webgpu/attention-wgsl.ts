import type { View } from '../../backend.js';
import type { AttentionAttrs } from '../../ops/attention.js';
import { broadcastStrides } from '../cpu/strided.js';

/*
 * WGSL pieces shared by the fused attention kernels (attention.ts, attention-backward.ts).
 *
 * The 'row' schedule (GPUs) gives each invocation one row (a query row, or a key row in the backward's dK/dV
 * kernel) and loops over the other side's rows. The loop index is the same in all invocations of a workgroup,
 * so the rows read in the loop are read at a uniform address, which a GPU serves from cache to all lanes at
 * once. The invocation's own row and its accumulators are held as vec4 registers, in code unrolled over them (a
 * private array indexed by a loop variable is not kept in registers), so the kernels are specialised on ⌈E/4⌉
 * and ⌈Ev/4⌉; E and Ev stay runtime values, so odd sizes share pipelines.
 *
 * On lavapipe that schedule is slow: each of those loads is done lane by lane, one load per multiply-add. The
 * 'subgroup' schedule (attention.ts, attention-backward.ts) shares each load among a subgroup's lanes instead,
 * as the matmul kernel's subgroup schedule does (matmul-shaders.ts).
 *
 * Rows past the end (the last workgroup of a ragged L) compute a clamped copy of the last row and store
 * nothing: no early return, so control flow stays uniform across the workgroup.
 */

/** How the fused kernels share out their work (see the note at the top; tuning.ts picks one per adapter). */
export type AttentionSchedule = 'row' | 'subgroup';

/** What a specialised attention shader is compiled for: vec4s per q/k row and per v row, batch rank, the op's attributes. */
export interface AttentionVariant {
  e4: number;
  ev4: number;
  rank: number;
  attrs: AttentionAttrs;
}

/** Rows per workgroup, one per invocation. */
export const ROWS_PER_GROUP = 64;

/** Keys per step of the online softmax: the running sums are rescaled once per block, not once per key. */
export const KEY_BLOCK = 8;

/** Rows per lane in the 'subgroup' schedule: each value loaded for the other side feeds this many rows per lane. */
export const ROW_SLOTS = 2;

/** Rows of the other side per lane in a block of the 'subgroup' schedule: one vec4 of scores per row. */
export const KEYS_PER_LANE = 4;

/*
 * Queue cost (queue.ts) per multiply-add, in the units where matmul counts 1/8 per multiply-add: the 'subgroup'
 * schedule runs at about matmul's speed on lavapipe; 'row' is several times slower there.
 */
export const SUBGROUP_COST = 1 / 8;
export const ROW_COST = 2;

/** `body(i)` for i < n, joined: the unrolled loop. */
export function unroll(n: number, body: (i: number) => string): string {
  return Array.from({ length: n }, (_, i) => body(i)).join('');
}

/** The mask binding's element type, if any. */
export function maskBinding(kind: AttentionAttrs['mask']): [string, string][] {
  return kind === 'none' ? [] : [['M', kind === 'keep' ? 'i32' : 'f32']];
}

/**
 * Statements that turn the score `x` of query `t` and key `s` into its masked value (−∞ where the key is
 * hidden). `M` is read at baseM + t·p.mRow + s·p.mCol, strides that are 0 along broadcast dims.
 */
export function maskScore(attrs: AttentionAttrs): string {
  const at = 'M[baseM + t * p.mRow + s * p.mCol]';
  if (attrs.mask === 'keep') return `if (${at} == 0) { x = -inf_f32(); } `;
  if (attrs.mask === 'additive') return `x += ${at}; `;
  if (attrs.isCausal) return 'if (s > t) { x = -inf_f32(); } ';
  return '';
}

/** WGSL `fn masked(score, t, s, baseM)`: the score of query t and key s, masked (−∞ where hidden or s ≥ p.S). */
export function maskedFunction(attrs: AttentionAttrs): string {
  return `
fn masked(score: f32, t: u32, s: u32, baseM: u32) -> f32 {
  var x = score;
  ${maskScore(attrs)}if (s >= p.S) { x = -inf_f32(); }
  return x;
}
`;
}

/** The four rows base + lane + SG·c (c < 4) that a lane of the 'subgroup' schedule takes in a block. */
export function laneRows(base: string, SG: number): string {
  return `vec4<u32>(${base} + lane) + vec4<u32>(0u, ${SG}u, ${2 * SG}u, ${3 * SG}u)`;
}

/** `let <name><j> = …;` for j < quads: the columns 4·(lane + SG·j) + c that a lane owns in a row of `len` (clamped). */
export function laneColumns(name: string, quads: number, SG: number, len: string): string {
  return unroll(quads, (j) => `  let ${name}${j} = min(vec4<u32>(4u * (lane + ${j * SG}u)) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(${len} - 1u));\n`);
}

/** The values at the lane's columns `cols` (from `laneColumns`) of the row at `base`, as a vec4. */
export function atColumns(buffer: string, base: string, cols: string): string {
  return `vec4<f32>(${buffer}[${base} + ${cols}.x], ${buffer}[${base} + ${cols}.y], ${buffer}[${base} + ${cols}.z], ${buffer}[${base} + ${cols}.w])`;
}

/**
 * Statements of the subgroup schedule for owned row r (query `first` + r) and its block of scores x<r>: scales
 * and masks them, moves the running maximum m<r> and sum l<r> on (the online softmax), rescales the
 * accumulators `acc`<r>_<j>, and leaves the block's probabilities, relative to exp(m<r>), in `prob`.
 */
export function onlineSoftmaxBlock(r: number, first: string, acc: string, quads: number): string {
  return `      let t = min(${first} + ${r}u, p.L - 1u);
      let y = x${r} * p.scale;
      let z = vec4<f32>(masked(y.x, t, s.x, baseM), masked(y.y, t, s.y, baseM), masked(y.z, t, s.z, baseM), masked(y.w, t, s.w, baseM));
      let mNew = max(m${r}, subgroupMax(max(max(z.x, z.y), max(z.z, z.w))));
      // While every score so far is −∞ there is nothing to add (and exp(−∞ − (−∞)) would be NaN).
      let seen = mNew != -inf_f32();
      let rescale = select(1.0, exp(m${r} - mNew), seen);
      let prob = select(vec4<f32>(), exp(z - mNew), seen);
      l${r} = l${r} * rescale + dot(prob, vec4<f32>(1.0));
${unroll(quads, (j) => `      ${acc}${r}_${j} *= rescale;\n`)}      m${r} = mNew;
`;
}

/**
 * Statements of the subgroup schedule: for each key s0 + k of the block (keys past the end skipped), the lane
 * loads its columns cols<j> of that key's row of `buffer` (rows of `len` from `base`) and adds them, weighted by
 * component k / SG of x<r> in lane k % SG (the lane that scored the key), into `acc`<r>_<j> for each owned row r.
 */
export function accumulateKeyRows(buffer: string, base: string, len: string, acc: string, rows: number, quads: number, SG: number, block: number): string {
  return `    for (var k = 0u; k < min(${block}u, keys - s0); k++) {
      let kvAt = ${base} + (s0 + k) * ${len};
${unroll(quads, (j) => `      let kv${j} = ${atColumns(buffer, 'kvAt', `cols${j}`)};\n`)}      let c = k / ${SG}u;
      let owner = k % ${SG}u;
${unroll(rows, (r) => `      { let w = vec4<f32>(subgroupShuffle(x${r}[c], owner));\n${unroll(quads, (j) => `        ${acc}${r}_${j} = fma(w, kv${j}, ${acc}${r}_${j});\n`)}      }\n`)}    }
`;
}

/** Stores the vec4 `y` at the lane's columns of quad j into the row at `base` of `len` elements, dropping the padding. */
export function storeColumns(buffer: string, base: string, y: string, j: number, SG: number, len: string): string {
  return `{ let y = ${y};
        for (var c = 0u; c < 4u; c++) { let col = 4u * (lane + ${j * SG}u) + c; if (col < ${len}) { ${buffer}[${base} + col] = y[c]; } } }
`;
}

/** Elements 4i … 4i + 3 of the row at `base` of `len` elements, as a vec4 (indices past the end clamped). */
export function row4(buffer: string, base: string, i: number, len: string): string {
  const at = (k: number) => `${buffer}[${base} + min(${4 * i + k}u, ${len} - 1u)]`;
  return `vec4<f32>(${at(0)}, ${at(1)}, ${at(2)}, ${at(3)})`;
}

/** The same vec4 with the entries past the end of the row set to 0 (for the rows held in registers). */
export function row4Zeroed(buffer: string, base: string, i: number, len: string): string {
  return `select(vec4<f32>(), ${row4(buffer, base, i, len)}, vec4<u32>(${4 * i}u, ${4 * i + 1}u, ${4 * i + 2}u, ${4 * i + 3}u) < vec4<u32>(${len}))`;
}

/** `let <name><i> = <row vec4 i>·factor;` for the n vec4s of a row held in registers. */
export function loadRow(name: string, n: number, buffer: string, base: string, len: string, factor = ''): string {
  return unroll(n, (i) => `  let ${name}${i} = ${row4Zeroed(buffer, base, i, len)}${factor};\n`);
}

/** `var <name><i> = vec4<f32>();` for n accumulator vec4s. */
export function zeros(name: string, n: number): string {
  return unroll(n, (i) => `  var ${name}${i} = vec4<f32>();\n`);
}

/** The WGSL expression Σ_i regs_i · (row vec4 i), a dot product of a register row with a row in memory. */
export function dotWithRow(regs: string, n: number, buffer: string, base: string, len: string, factor = ''): string {
  let d = 'vec4<f32>()';
  for (let i = 0; i < n; i++) d = `fma(${regs}${i}, ${row4(buffer, base, i, len)}${factor}, ${d})`;
  return `dot(${d}, vec4<f32>(1.0))`;
}

/** Statements `acc_i += w · (row vec4 i)` for the n accumulators. */
export function accumulateRow(acc: string, n: number, w: string, buffer: string, base: string, len: string): string {
  return unroll(n, (i) => `    ${acc}${i} = fma(vec4<f32>(${w}), ${row4(buffer, base, i, len)}, ${acc}${i});\n`);
}

/** Stores the n vec4s `acc_i · factor` into row `at` of `buffer` (rows of `len`), dropping the padding. */
export function storeRow(buffer: string, acc: string, n: number, at: string, len: string, factor: string): string {
  return unroll(
    n,
    (i) => `    { let y = ${acc}${i} * ${factor};
      for (var c = 0u; c < 4u; c++) { if (${4 * i}u + c < ${len}) { ${buffer}[${at} + ${4 * i}u + c] = y[c]; } } }
`,
  );
}

/**
 * Statements that fill `scores[j]` (masked) for keys s0 + j, j < KEY_BLOCK, of query t, and `blockMax`, their
 * maximum; keys past p.S score −∞. Needs the scaled query row q<i> (e4 vec4s), `baseK`, `baseM`, `t`, `s0`.
 * A loop, not unrolled: unrolled over the block too, the shader takes lavapipe minutes to compile.
 */
export function blockScores(attrs: AttentionAttrs, e4: number): string {
  return `    var scores: array<f32, ${KEY_BLOCK}>;
    var blockMax = -inf_f32();
    for (var j = 0u; j < ${KEY_BLOCK}u; j++) {
      let s = s0 + j;
      let kAt = baseK + min(s, p.S - 1u) * p.E;
      var x = ${dotWithRow('q', e4, 'K', 'kAt', 'p.E')};
      ${maskScore(attrs)}if (s >= p.S) { x = -inf_f32(); }
      scores[j] = x;
      blockMax = max(blockMax, x);
    }
`;
}

/** The mask's strides along [...batch] and along L and S, for the output batch shape `batch`. */
export function maskStrides(mask: View | undefined, batch: readonly number[], L: number, S: number): { batch: number[]; row: number; col: number } {
  if (!mask) return { batch: batch.map(() => 0), row: 0, col: 0 };
  const strides = broadcastStrides(mask, [...batch, L, S]);
  return { batch: strides.slice(0, -2), row: strides[strides.length - 2]!, col: strides[strides.length - 1]! };
}
