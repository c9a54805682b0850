import { central, ridders, type LineDerivative } from './differences.js';
import { type Direction, type Problem, unravel } from './problem.js';
import { judge, type Tolerance } from './tolerance.js';
import type { EntryReport, PairReport } from './types.js';

/**
 * Full mode: every Jacobian entry in a selection. Analytical rows come from one pullback per output element
 * (a one-hot v); numerical columns from one line derivative per input element; each entry is judged on its own.
 */

export type Range = readonly [number, number];

/** Which columns of each checked input (in wrt order) and which rows of each float output; null: none. */
export interface Selection {
  columns: readonly (Range | null)[];
  rows: readonly (Range | null)[];
}

export function everything(p: Problem): Selection {
  return {
    columns: p.wrt.map((i) => [0, p.inputs[i]!.size] as const),
    rows: p.slots.map((s) => [0, s.size] as const),
  };
}

/** The derivative of F along u, by the scheme in use (Richardson or central). */
export function differentiate(p: Problem, u: Direction, xMax: number): LineDerivative {
  const line = (t: number) => p.along(u, t);
  const h = p.stepFor(xMax);
  return p.opts.scheme === 'richardson' ? ridders(line, p.center, h, Math.max(1, xMax)) : central(line, p.center, h);
}

/** The unit direction e_j of input `w` (in wrt order). */
export function column(p: Problem, w: number, j: number): Direction {
  return p.wrt.map((i, v) => {
    if (v !== w) return null;
    const e = new Float64Array(p.inputs[i]!.size);
    e[j] = 1;
    return e;
  });
}

export function checkFull(p: Problem, sel: Selection, tol: Tolerance): { entries: EntryReport[]; pairs: PairReport[] } {
  // rows[s][r][w]: row r of output slot s, restricted to checked input w.
  const rows = p.slots.map((slot, s) => {
    const range = sel.rows[s];
    if (!range) return [];
    const out: Float64Array[][] = [];
    for (let r = range[0]; r < range[1]; r++) {
      const v = new Float64Array(p.outSize);
      v[slot.offset + r] = 1;
      out.push(p.pullback(v));
    }
    return out;
  });

  const pairs: PairReport[] = [];
  const pairOf = new Map<string, PairReport>();
  p.wrt.forEach((i, w) => {
    if (!sel.columns[w]) return;
    p.slots.forEach((slot, s) => {
      if (!sel.rows[s]) return;
      const pair = { input: i, output: slot.output, inShape: [...p.inputs[i]!.shape], outShape: [...slot.shape], checked: 0, failed: 0, inconclusive: 0 };
      pairs.push(pair);
      pairOf.set(`${w}:${s}`, pair);
    });
  });

  const entries: EntryReport[] = [];
  p.wrt.forEach((i, w) => {
    const cols = sel.columns[w];
    if (!cols) return;
    const shape = p.inputs[i]!.shape;
    for (let j = cols[0]; j < cols[1]; j++) {
      const d = differentiate(p, column(p, w, j), p.base[i]![j]!);
      p.slots.forEach((slot, s) => {
        const range = sel.rows[s];
        if (!range) return;
        const pair = pairOf.get(`${w}:${s}`)!;
        for (let r = range[0]; r < range[1]; r++) {
          const k = slot.offset + r;
          const a = rows[s]![r - range[0]]![w]![j]!;
          const n = d.value[k]!;
          const slopes = d.kink[k] ? ([d.forward[k]!, d.backward[k]!] as [number, number]) : undefined;
          const verdict = judge({ analytical: a, numerical: n, noise: d.noise[k]!, scale: p.scaleOf(k), magnitude: 0, kink: slopes }, tol);
          pair.checked++;
          if (verdict.status === 'fail') pair.failed++;
          if (verdict.status === 'inconclusive') pair.inconclusive++;
          entries.push({
            input: i,
            output: slot.output,
            inIndex: unravel(j, shape),
            outIndex: unravel(r, slot.shape),
            analytical: a,
            numerical: n,
            ...verdict,
            noise: d.noise[k]!,
            step: d.step,
            kink: slopes !== undefined,
            ...(slopes ? { slopes } : {}),
          });
        }
      });
    }
  });
  return { entries, pairs };
}
