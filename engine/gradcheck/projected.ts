import { rademacher } from './directions.js';
import type { LineDerivative } from './differences.js';
import { type Range, type Selection, checkFull, differentiate } from './full.js';
import type { Direction, Problem } from './problem.js';
import { judge, type Tolerance } from './tolerance.js';
import type { Localisation, ProjectionReport } from './types.js';

/**
 * Projected mode: for K seeded Rademacher pairs (u, v), ⟨v, J u⟩ from one pullback (vᵀJ)·u against the
 * directional derivative ⟨v, D_u F⟩. One wrong entry δ moves the scalar by ±δ, while the tolerance grows with
 * the sums it covers, so this is a screen; on failure the culprit is localised automatically: the failing
 * (input, output) pairs, then blocks of those pairs bisected until they are small enough for full mode.
 */

/** Full mode is used, and localisation stops bisecting, at or below this many Jacobian entries (§7.1). */
export const FULL_MODE_LIMIT = 16384;

/** A block of the Jacobian: some columns of one checked input (or all inputs), some rows of one output (or all). */
interface Block {
  /** Checked input, in wrt order; undefined: all of them. */
  w?: number;
  columns?: Range;
  /** Output slot; undefined: all of them. */
  s?: number;
  rows?: Range;
}

/**
 * ⟨v, J u⟩ restricted to blocks, for one direction pair. Pullbacks are cached per row block and line derivatives
 * per column block, so bisection costs one of each per level.
 */
class Probe {
  private readonly pullbacks = new Map<string, Float64Array[]>();
  private readonly lines = new Map<string, LineDerivative>();

  constructor(
    private readonly p: Problem,
    readonly direction: number,
    private readonly u: Float64Array[],
    private readonly v: Float64Array,
    private readonly tol: Tolerance,
  ) {}

  private columnsOf(b: Block, w: number): Range | null {
    if (b.w !== undefined && b.w !== w) return null;
    return b.columns ?? [0, this.u[w]!.length];
  }

  private rowsOf(b: Block, s: number): Range | null {
    if (b.s !== undefined && b.s !== s) return null;
    return b.rows ?? [0, this.p.slots[s]!.size];
  }

  private pullback(b: Block): Float64Array[] {
    const key = `${b.s}:${b.rows}`;
    let g = this.pullbacks.get(key);
    if (!g) {
      const masked = new Float64Array(this.p.outSize);
      this.p.slots.forEach((slot, s) => {
        const r = this.rowsOf(b, s);
        if (r) masked.set(this.v.subarray(slot.offset + r[0], slot.offset + r[1]), slot.offset + r[0]);
      });
      this.pullbacks.set(key, (g = this.p.pullback(masked)));
    }
    return g;
  }

  private derivative(b: Block): LineDerivative {
    const key = `${b.w}:${b.columns}`;
    let d = this.lines.get(key);
    if (!d) {
      let xMax = 0;
      const u: Direction = this.p.wrt.map((i, w) => {
        const c = this.columnsOf(b, w);
        if (!c) return null;
        const masked = new Float64Array(this.u[w]!.length);
        masked.set(this.u[w]!.subarray(c[0], c[1]), c[0]);
        for (let j = c[0]; j < c[1]; j++) xMax = Math.max(xMax, Math.abs(this.p.base[i]![j]!));
        return masked;
      });
      this.lines.set(key, (d = differentiate(this.p, u, xMax)));
    }
    return d;
  }

  test(b: Block): ProjectionReport {
    const g = this.pullback(b);
    let a = 0;
    let absA = 0;
    this.p.wrt.forEach((_, w) => {
      const c = this.columnsOf(b, w);
      for (let j = c?.[0] ?? 0; j < (c?.[1] ?? 0); j++) {
        const term = g[w]![j]! * this.u[w]![j]!;
        a += term;
        absA += Math.abs(term);
      }
    });
    const d = this.derivative(b);
    let n = 0;
    let absN = 0;
    let noise = 0;
    let scale = 0;
    let kink = false;
    let forward = 0;
    let backward = 0;
    this.p.slots.forEach((slot, s) => {
      const r = this.rowsOf(b, s);
      for (let k = slot.offset + (r?.[0] ?? 0); k < slot.offset + (r?.[1] ?? 0); k++) {
        const vk = this.v[k]!;
        n += vk * d.value[k]!;
        absN += Math.abs(vk * d.value[k]!);
        noise += Math.abs(vk) * d.noise[k]!;
        scale += Math.abs(vk) * this.p.scaleOf(k);
        kink ||= d.kink[k] === 1;
        forward += vk * d.forward[k]!;
        backward += vk * d.backward[k]!;
      }
    });
    const verdict = judge({ analytical: a, numerical: n, noise, scale, magnitude: Math.max(absA, absN), kink: kink ? [forward, backward] : undefined }, this.tol);
    return {
      direction: this.direction,
      ...(b.w !== undefined ? { input: this.p.wrt[b.w]! } : {}),
      ...(b.s !== undefined ? { output: this.p.slots[b.s]!.output } : {}),
      analytical: a,
      numerical: n,
      ...verdict,
      noise,
      step: d.step,
      kink,
    };
  }
}

export function checkProjected(p: Problem, tol: Tolerance, k: number, seed: number): { projections: ProjectionReport[]; localisation?: Localisation } {
  const projections: ProjectionReport[] = [];
  let localisation: Localisation | undefined;
  for (let dir = 0; dir < k; dir++) {
    const u = p.wrt.map((i, w) => rademacher(p.inputs[i]!.size, seed, 2 * (dir * p.wrt.length + w)));
    const v = rademacher(p.outSize, seed, 2 * dir + 1);
    const probe = new Probe(p, dir, u, v, tol);
    const result = probe.test({});
    projections.push(result);
    if (result.status === 'fail' && !localisation) localisation = localise(p, probe, tol);
  }
  return { projections, ...(localisation ? { localisation } : {}) };
}

function localise(p: Problem, probe: Probe, tol: Tolerance): Localisation {
  const loc: Localisation = { direction: probe.direction, pairs: [], blocks: [], entries: [], notes: [] };
  const failing: Block[] = [];
  p.wrt.forEach((_, w) =>
    p.slots.forEach((_slot, s) => {
      const r = probe.test({ w, s });
      loc.pairs.push(r);
      if (r.status === 'fail') failing.push({ w, s, columns: [0, p.inputs[p.wrt[w]!]!.size], rows: [0, p.slots[s]!.size] });
    }),
  );
  if (failing.length === 0) loc.notes.push('no (input, output) pair fails on its own: the errors of different pairs add up; rerun with mode "full"');

  const bisect = (b: Block): void => {
    const [c0, c1] = b.columns!;
    const [r0, r1] = b.rows!;
    if ((c1 - c0) * (r1 - r0) <= FULL_MODE_LIMIT) {
      const sel: Selection = { columns: p.wrt.map((_, w) => (w === b.w ? b.columns! : null)), rows: p.slots.map((_, s) => (s === b.s ? b.rows! : null)) };
      const { entries, pairs } = checkFull(p, sel, tol);
      const { checked, failed, inconclusive } = pairs[0]!;
      loc.blocks.push({ input: p.wrt[b.w!]!, output: p.slots[b.s!]!.output, columns: [c0, c1], rows: [r0, r1], checked, failed, inconclusive });
      loc.entries.push(...entries.filter((e) => e.status !== 'ok'));
      if (failed === 0) loc.notes.push(`full mode passes on x-columns [${c0},${c1}) × y-rows [${r0},${r1}): the projected mismatch is many small errors, each within its entry's tolerance`);
      return;
    }
    const halves: Block[] =
      c1 - c0 >= r1 - r0
        ? [{ ...b, columns: [c0, (c0 + c1) >> 1] }, { ...b, columns: [(c0 + c1) >> 1, c1] }]
        : [{ ...b, rows: [r0, (r0 + r1) >> 1] }, { ...b, rows: [(r0 + r1) >> 1, r1] }];
    const bad = halves.filter((h) => probe.test(h).status === 'fail');
    if (bad.length === 0) loc.notes.push(`x-columns [${c0},${c1}) × y-rows [${r0},${r1}) fails but neither half does: errors in the two halves add up`);
    bad.forEach(bisect);
  };
  failing.forEach(bisect);
  loc.entries.sort((x, y) => y.ratio - x.ratio);
  return loc;
}
