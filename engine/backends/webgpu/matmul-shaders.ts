import { offsetsWgsl } from './layout.js';
import { MAX_RANK, ParamLayout } from './params.js';
import { F32_MATH, type WgslScalar, bindings } from './wgsl.js';

/**
 * The WGSL of matmul's schedules (matmul.ts records them, tuning.ts picks one per adapter). Every schedule
 * computes C = A·B (or C += A·B) for a batch of strided operands with the same uniform parameters; they differ in
 * how the work of a tile of C is shared out:
 *
 * - 'tiled' (GPUs): a workgroup of 16×16 threads computes a 64×64 tile of C; each K step stages a 16-deep slice
 *   of A and B in workgroup memory (coalesced loads, along each operand's contiguous direction), then every
 *   thread accumulates a 4×4 register block from vec4 reads of that slice.
 * - 'subgroup' (CPU adapters): a workgroup is one subgroup of S lanes computing a (rows·S) × (cols·S) tile; per
 *   k each lane loads `rows` values of A and `cols` of B and gets the other lanes' A values by subgroupBroadcast,
 *   so rows + cols loads feed rows·cols·S multiply-adds. On lavapipe every storage load costs the same ~8 cycles
 *   per lane whatever the pattern, so this is what makes it the fastest there (see tuning.ts for figures).
 * - 'register' (CPU adapters without subgroups): no workgroup memory and no barriers. Each invocation keeps a
 *   rows × cols block in vec4 registers, loading its own rows of A and columns of B every k.
 * - 'vec4' (GPUs): like 'register', but A is read along k and B along n a vec4 at a time (aligned operands only).
 *
 * On lavapipe every invocation is one lane of an 8-wide SIMD register, so a vec4 accumulator takes four
 * registers and large blocks spill; storage loads with lane-varying addresses are done lane by lane. Speed
 * there is FMAs per lane-varying load, within what the registers hold.
 *
 * Every schedule ends in `store(at, v)` for element `at` of C. An epilogue (fusion.ts) replaces that function:
 * it computes elementwise ops of v (a bias, an activation) and stores them into other outputs, C among them
 * only if C is still wanted.
 */

/** What a kernel does with each element of A·B in place of storing it into C. */
export interface MatmulEpilogue {
  /** Distinguishes the shader: equal keys mean equal WGSL. */
  key: string;
  /** Inputs of the elementwise ops, bound after A and B. */
  reads: [string, WgslScalar][];
  /** The outputs, bound in place of C. */
  writes: [string, WgslScalar][];
  /** The body of `fn store(at: u32, v: f32)`; it reads its parameters from `p.ep0` and `p.ep1`. */
  store: string;
}

export type MatmulVariant =
  | { schedule: 'tiled' }
  | { schedule: 'subgroup'; rows: number; cols: number }
  | { schedule: 'register'; rows: number; cols: number; wgX: number; wgY: number }
  | { schedule: 'vec4'; rows: number; quads: number; wgX: number; wgY: number };

/** A short name that identifies the variant (pipeline keys, logs, the tuning cache). */
export function variantName(v: MatmulVariant): string {
  switch (v.schedule) {
    case 'tiled':
      return 'tiled';
    case 'subgroup':
      return `subgroup ${v.rows}x${v.cols}`;
    case 'register':
      return `register ${v.rows}x${v.cols} wg ${v.wgX}x${v.wgY}`;
    case 'vec4':
      return `vec4 ${v.rows}x${4 * v.quads} wg ${v.wgX}x${v.wgY}`;
  }
}

/** Rows and columns of C that one workgroup computes, for subgroup size S. */
export function tileOf(v: MatmulVariant, S: number): [number, number] {
  switch (v.schedule) {
    case 'tiled':
      return [64, 64];
    case 'subgroup':
      return [v.rows * S, v.cols * S];
    case 'register':
      return [v.rows * v.wgY, v.cols * v.wgX];
    case 'vec4':
      return [v.rows * v.wgY, 4 * v.quads * v.wgX];
  }
}

export const matmulParams = new ParamLayout({
  M: 'u32',
  N: 'u32',
  K: 'u32',
  batchStart: 'u32',
  offA: 'u32',
  offB: 'u32',
  offC: 'u32',
  ldc: 'u32',
  sAm: 'u32',
  sAk: 'u32',
  sBk: 'u32',
  sBn: 'u32',
  /** 1: C += A·B. */
  accumulate: 'u32',
  /** 1 when A's rows (B's columns) are its contiguous direction: the tiled kernel loads along it. */
  aRowsContiguous: 'u32',
  bColsContiguous: 'u32',
  shape: 'list',
  s0: 'list',
  s1: 'list',
  s2: 'list',
  /** The epilogue's parameter words. */
  ep0: 'list',
  ep1: 'list',
});

/** Parameter words an epilogue may use. */
export const EPILOGUE_WORDS = 16;

const batchOffsets = offsetsWgsl(MAX_RANK, 'batch', 'p.shape', [
  { name: 'baseA', init: 'p.offA', strides: 'p.s0' },
  { name: 'baseB', init: 'p.offB', strides: 'p.s1' },
  { name: 'baseC', init: 'p.offC', strides: 'p.s2' },
]);

/** Parameters, bindings (A and B as `element`s) and `store`, plain or the epilogue's. */
function header(element: string, epilogue: MatmulEpilogue | undefined): string {
  const operands: [string, string][] = [['A', element], ['B', element]];
  if (!epilogue) {
    return (
      matmulParams.wgsl() +
      bindings(operands, [['C', 'f32']]) +
      'fn store(at: u32, v: f32) { C[at] = select(v, C[at] + v, p.accumulate == 1u); }\n'
    );
  }
  return matmulParams.wgsl() + bindings([...operands, ...epilogue.reads], epilogue.writes) + F32_MATH + `fn store(at: u32, v: f32) {\n${epilogue.store}}\n`;
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/**
 * The stores of a register tile: element (r, j) goes to row row0 + rowStep·r and column col0 + colOffset(j).
 * Plain stores are unrolled; an epilogue's `store` is called from a loop over the tile instead, so that its code
 * appears once (unrolled at each of up to 128 sites, lavapipe took minutes to compile one kernel).
 */
function storeTile(rows: number, rowStep: number, cols: number, colOffset: (j: number) => number, value: (r: number, j: number) => string, epilogue: boolean): string[] {
  const lines: string[] = [];
  if (!epilogue) {
    for (const r of range(rows)) {
      lines.push(`  if (row0 + ${r * rowStep}u < p.M) {`);
      for (const j of range(cols)) {
        lines.push(`    if (col0 + ${colOffset(j)}u < p.N) { store(baseC + (row0 + ${r * rowStep}u) * p.ldc + col0 + ${colOffset(j)}u, ${value(r, j)}); }`);
      }
      lines.push('  }');
    }
    return lines;
  }
  lines.push(`  var tile: array<f32, ${rows * cols}>;`);
  for (const r of range(rows)) for (const j of range(cols)) lines.push(`  tile[${r * cols + j}] = ${value(r, j)};`);
  lines.push(`  let colOffsets = array<u32, ${cols}>(${range(cols).map((j) => `${colOffset(j)}u`).join(', ')});`);
  lines.push(`  for (var e = 0u; e < ${rows * cols}u; e++) {`);
  lines.push(`    let row = row0 + (e / ${cols}u) * ${rowStep}u;`);
  lines.push(`    let col = col0 + colOffsets[e % ${cols}u];`);
  lines.push('    if (row < p.M && col < p.N) { store(baseC + row * p.ldc + col, tile[e]); }');
  lines.push('  }');
  return lines;
}

export function matmulShader(v: MatmulVariant, S: number, epilogue?: MatmulEpilogue): string {
  const looped = epilogue !== undefined;
  switch (v.schedule) {
    case 'tiled':
      return tiledShader(header('f32', epilogue));
    case 'subgroup':
      return subgroupShader(v.rows, v.cols, S, header('f32', epilogue), looped);
    case 'register':
      return registerShader(v.rows, v.cols, v.wgX, v.wgY, header('f32', epilogue), looped);
    case 'vec4':
      return vec4Shader(v.rows, v.quads, v.wgX, v.wgY, header('vec4<f32>', epilogue), looped);
  }
}

/** BM = BN = 64, BK = 16, 16×16 threads with 4×4 blocks. */
function tiledShader(header: string): string {
  return (
    header +
    `
// As[k][m] and Bs[k][n], four consecutive m (n) per vec4.
var<workgroup> As: array<vec4<f32>, 256>;
var<workgroup> Bs: array<vec4<f32>, 256>;

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(local_invocation_index) li: u32) {
  let batch = wid.z + p.batchStart;
${batchOffsets}
  let tileRow = wid.y * 64u;
  let tileCol = wid.x * 64u;
  var acc: array<vec4<f32>, 4>;
  for (var k0 = 0u; k0 < p.K; k0 += 16u) {
    for (var l = 0u; l < 4u; l++) {
      // Consecutive threads take consecutive addresses: along k when A's rows are contiguous, else along m.
      let e = li + l * 256u;
      var mm = e % 64u;
      var kk = e / 64u;
      if (p.aRowsContiguous == 1u) { mm = e / 16u; kk = e % 16u; }
      let gm = tileRow + mm;
      let gk = k0 + kk;
      var v = 0.0;
      if (gm < p.M && gk < p.K) { v = A[baseA + gm * p.sAm + gk * p.sAk]; }
      As[kk * 16u + mm / 4u][mm % 4u] = v;
    }
    for (var l = 0u; l < 4u; l++) {
      let e = li + l * 256u;
      var nn = e / 16u;
      var kk = e % 16u;
      if (p.bColsContiguous == 1u) { nn = e % 64u; kk = e / 64u; }
      let gk = k0 + kk;
      let gn = tileCol + nn;
      var v = 0.0;
      if (gk < p.K && gn < p.N) { v = B[baseB + gk * p.sBk + gn * p.sBn]; }
      Bs[kk * 16u + nn / 4u][nn % 4u] = v;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < 16u; kk++) {
      let a = As[kk * 16u + lid.y];
      let b = Bs[kk * 16u + lid.x];
      acc[0] += a.x * b;
      acc[1] += a.y * b;
      acc[2] += a.z * b;
      acc[3] += a.w * b;
    }
    workgroupBarrier();
  }
  let row0 = tileRow + lid.y * 4u;
  let col0 = tileCol + lid.x * 4u;
  for (var i = 0u; i < 4u; i++) {
    let row = row0 + i;
    if (row >= p.M) { break; }
    for (var j = 0u; j < 4u; j++) {
      if (col0 + j < p.N) { store(baseC + row * p.ldc + col0 + j, acc[i][j]); }
    }
  }
}
`
  );
}

/** Lane l owns columns col0 + S·j (consecutive lanes, consecutive columns) and rows row0 + S·i + l of A's loads. */
function subgroupShader(ROWS: number, COLS: number, S: number, header: string, looped: boolean): string {
  const lines: string[] = [];
  // Rows and columns past the edge load the last row (column) instead and are never stored.
  for (const i of range(ROWS)) lines.push(`  let aAt${i} = baseA + min(row0 + ${i * S}u + lane, p.M - 1u) * p.sAm;`);
  for (const j of range(COLS)) lines.push(`  let bAt${j} = baseB + min(col0 + ${j * S}u, p.N - 1u) * p.sBn;`);
  const quads = Math.ceil(COLS / 4);
  for (const r of range(ROWS * S)) for (const q of range(quads)) lines.push(`  var c${r}_${q} = vec4<f32>();`);
  lines.push('  for (var k = 0u; k < p.K; k++) {');
  for (const i of range(ROWS)) lines.push(`    let a${i} = A[aAt${i} + k * p.sAk];`);
  for (const q of range(quads)) {
    const cols = range(4).map((j) => (q * 4 + j < COLS ? `B[bAt${q * 4 + j} + k * p.sBk]` : '0.0'));
    lines.push(`    let b${q} = vec4<f32>(${cols.join(', ')});`);
  }
  for (const i of range(ROWS)) {
    for (const s of range(S)) {
      lines.push(`    let a${i}_${s} = vec4<f32>(subgroupBroadcast(a${i}, ${s}u));`);
      for (const q of range(quads)) lines.push(`    c${i * S + s}_${q} = fma(a${i}_${s}, b${q}, c${i * S + s}_${q});`);
    }
  }
  lines.push('  }');
  lines.push(...storeTile(ROWS * S, 1, COLS, (j) => j * S, (r, j) => `c${r}_${Math.floor(j / 4)}[${j % 4}]`, looped));
  return (
    'enable subgroups;\n' +
    header +
    `
@compute @workgroup_size(${S})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(subgroup_invocation_id) lane: u32) {
  let batch = wid.z + p.batchStart;
${batchOffsets}
  let row0 = wid.y * ${ROWS * S}u;
  let col0 = wid.x * ${COLS * S}u + lane;
${lines.join('\n')}
}
`
  );
}

/**
 * Invocation (x, y) of the workgroup owns rows row0 + wgY·i and columns col0 + wgX·j of the tile (interleaved,
 * so that neighbouring invocations read neighbouring addresses), accumulating four columns per vec4.
 */
function registerShader(ROWS: number, COLS: number, wgX: number, wgY: number, header: string, looped: boolean): string {
  const quads = Math.ceil(COLS / 4);
  const lines: string[] = [];
  for (const i of range(ROWS)) lines.push(`  let aAt${i} = baseA + min(row0 + ${i * wgY}u, p.M - 1u) * p.sAm;`);
  for (const j of range(COLS)) lines.push(`  let bAt${j} = baseB + min(col0 + ${j * wgX}u, p.N - 1u) * p.sBn;`);
  for (const i of range(ROWS)) for (const q of range(quads)) lines.push(`  var c${i}_${q} = vec4<f32>();`);
  lines.push('  for (var k = 0u; k < p.K; k++) {');
  for (const q of range(quads)) {
    const cols = range(4).map((j) => (q * 4 + j < COLS ? `B[bAt${q * 4 + j} + k * p.sBk]` : '0.0'));
    lines.push(`    let b${q} = vec4<f32>(${cols.join(', ')});`);
  }
  for (const i of range(ROWS)) {
    lines.push(`    let a${i} = vec4<f32>(A[aAt${i} + k * p.sAk]);`);
    for (const q of range(quads)) lines.push(`    c${i}_${q} = fma(a${i}, b${q}, c${i}_${q});`);
  }
  lines.push('  }');
  lines.push(...storeTile(ROWS, wgY, COLS, (j) => j * wgX, (i, j) => `c${i}_${Math.floor(j / 4)}[${j % 4}]`, looped));
  return (
    header +
    `
@compute @workgroup_size(${wgX}, ${wgY})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let batch = wid.z + p.batchStart;
${batchOffsets}
  let row0 = wid.y * ${ROWS * wgY}u + ${wgY === 1 ? '0u' : 'lid.y'};
  let col0 = wid.x * ${COLS * wgX}u + lid.x;
${lines.join('\n')}
}
`
  );
}

/**
 * The 'vec4' schedule reads A along k and B along n four floats at a time, through vec4 views of the buffers, so
 * it needs both contiguous in that direction and every offset and stride a multiple of 4 (`vec4Aligned`).
 * Invocation (x, y) owns rows row0 + wgY·i and column quads (wgX·q + x) of the tile; per four k it loads `rows`
 * vec4 of A and 4·quads of B for 4·rows·quads vec4 FMAs.
 */
function vec4Shader(ROWS: number, QUADS: number, wgX: number, wgY: number, header: string, looped: boolean): string {
  const lines: string[] = [];
  for (const i of range(ROWS)) lines.push(`  let aAt${i} = (baseA + min(row0 + ${i * wgY}u, p.M - 1u) * p.sAm) / 4u;`);
  for (const q of range(QUADS)) lines.push(`  let bAt${q} = (baseB + min(col0 + ${q * wgX * 4}u, p.N - 4u)) / 4u;`);
  for (const i of range(ROWS)) for (const q of range(QUADS)) lines.push(`  var c${i}_${q} = vec4<f32>();`);
  lines.push('  for (var k = 0u; k < p.K; k += 4u) {');
  for (const i of range(ROWS)) lines.push(`    let a${i} = A[aAt${i} + k / 4u];`);
  for (const kk of range(4)) {
    lines.push(`    let row${kk} = (k + ${kk}u) * p.sBk / 4u;`);
    for (const q of range(QUADS)) lines.push(`    let b${kk}_${q} = B[bAt${q} + row${kk}];`);
  }
  for (const i of range(ROWS)) {
    for (const kk of range(4)) {
      for (const q of range(QUADS)) lines.push(`    c${i}_${q} = fma(vec4<f32>(a${i}[${kk}]), b${kk}_${q}, c${i}_${q});`);
    }
  }
  lines.push('  }');
  // Column j of the tile is entry j % 4 of quad ⌊j / 4⌋.
  const quadColumn = (j: number) => Math.floor(j / 4) * wgX * 4 + (j % 4);
  lines.push(...storeTile(ROWS, wgY, 4 * QUADS, quadColumn, (i, j) => `c${i}_${Math.floor(j / 4)}[${j % 4}]`, looped));
  return (
    header +
    `
@compute @workgroup_size(${wgX}, ${wgY})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let batch = wid.z + p.batchStart;
${batchOffsets}
  let row0 = wid.y * ${ROWS * wgY}u + ${wgY === 1 ? '0u' : 'lid.y'};
  let col0 = wid.x * ${QUADS * 4 * wgX}u + lid.x * 4u;
${lines.join('\n')}
}
`
  );
}
