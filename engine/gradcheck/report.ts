import { abbreviate, hexOf } from './hex.js';
import { clusteringHints } from './hints.js';
import type { Problem } from './problem.js';
import { TAYLOR_MIN_RATE } from './taylor.js';
import { NOISE_CAP, type Tolerance } from './tolerance.js';
import type { EntryReport, GradcheckReport, GradcheckReportData, Localisation, PairReport, ProjectionReport, Scheme, TaylorReport, Verdict } from './types.js';

/**
 * Turns a check's results into the report of §7.5: which pairs were checked, the worst entries by multi-index
 * (not a matrix dump), the oracle's step and noise, kinks, hints, and exact inputs for replay; `toJSON()` gives
 * the same as plain data.
 */

export interface Findings {
  mode: 'full' | 'projected';
  scheme: Scheme;
  entries?: readonly EntryReport[];
  pairs?: readonly PairReport[];
  projections?: readonly ProjectionReport[];
  localisation?: Localisation;
  taylor?: { taylor: TaylorReport; verdict: Verdict };
}

const SEVERITY = { fail: 0, inconclusive: 1, ok: 2 } as const;

/** Failures first, then inconclusive entries, each by ratio; a clean run lists the entries closest to their bound. */
function worstOf(entries: readonly EntryReport[], k: number): EntryReport[] {
  return entries
    .filter((e) => e.status !== 'ok' || e.ratio > 0)
    .sort((a, b) => SEVERITY[a.status] - SEVERITY[b.status] || b.ratio - a.ratio)
    .slice(0, k);
}

function verdictOf(statuses: readonly string[]): Verdict {
  return statuses.includes('fail') ? 'fail' : statuses.includes('inconclusive') ? 'inconclusive' : 'pass';
}

export function makeReport(p: Problem, tol: Tolerance, seed: number, f: Findings): GradcheckReport {
  const topK = p.opts.topK ?? 10;
  const entries = f.entries ?? [];
  const checkedItems: { status: string; ratio: number }[] = f.taylor ? [] : f.mode === 'full' ? [...entries] : [...(f.projections ?? [])];
  const count = (s: string) => checkedItems.filter((e) => e.status === s).length;
  const inputName = (i: number) => p.inputNames[i]!;
  const outputName = (o: number) => `y${o}`;
  const explained = f.mode === 'full' ? entries : (f.localisation?.entries ?? []);

  const data: GradcheckReportData = {
    verdict: f.taylor ? f.taylor.verdict : verdictOf(checkedItems.map((e) => e.status)),
    name: p.name,
    backend: p.backend,
    dtype: p.dtype,
    mode: f.mode,
    scheme: f.scheme,
    checked: f.taylor ? f.taylor.taylor.rates.length : checkedItems.length,
    failed: f.taylor ? f.taylor.taylor.rates.filter((r) => r !== null && r < TAYLOR_MIN_RATE).length : count('fail'),
    inconclusive: f.taylor ? (f.taylor.verdict === 'inconclusive' ? 1 : 0) : count('inconclusive'),
    wrt: [...p.wrt],
    outputs: p.slots.map((s) => ({ output: s.output, shape: [...s.shape] })),
    pairs: [...(f.pairs ?? [])],
    worst: worstOf(explained, topK),
    maxRatio: checkedItems.reduce((m, e) => Math.max(m, e.ratio), 0),
    ...(f.projections ? { projections: [...f.projections] } : {}),
    ...(f.localisation ? { localisation: f.localisation } : {}),
    ...(f.taylor ? { taylor: f.taylor.taylor } : {}),
    hints: clusteringHints(explained, inputName, outputName),
    atol: tol.atol,
    rtol: tol.rtol,
    seed,
    inputs: p.inputs.map((x, i) => ({ name: inputName(i), shape: [...x.shape], dtype: x.dtype, hex: hexOf(p.base[i]!) })),
  };
  return { ...data, toString: () => formatReport(data, entries), toJSON: () => data };
}

const sci = (x: number) => (Number.isFinite(x) ? x.toExponential(1) : String(x));
const num = (x: number) => (Number.isFinite(x) ? x.toPrecision(8) : String(x));
const pow2 = (h: number) => (h > 0 && Number.isInteger(Math.log2(h)) ? ` (2^${Math.log2(h)})` : '');

function formatEntry(e: EntryReport, names: readonly string[]): string {
  const slopes = e.slopes ? `  kink: one-sided slopes ${num(e.slopes[0])} / ${num(e.slopes[1])}` : '';
  return (
    `J[y${e.output}(${e.outIndex.join(',')}) ← ${names[e.input]}(${e.inIndex.join(',')})]  analytical=${num(e.analytical)}  numerical=${num(e.numerical)}` +
    `  |Δ|=${sci(Math.abs(e.analytical - e.numerical))}  tol=${sci(e.tol)}  ratio=${e.ratio.toPrecision(3)}  ${e.status}${slopes}`
  );
}

function formatProjection(pr: ProjectionReport, names: readonly string[]): string {
  const where = pr.input !== undefined ? `${names[pr.input]} → y${pr.output}  ` : '';
  return `${where}⟨v,Ju⟩ analytical=${num(pr.analytical)}  numerical=${num(pr.numerical)}  |Δ|=${sci(Math.abs(pr.analytical - pr.numerical))}  tol=${sci(pr.tol)}  ratio=${pr.ratio.toPrecision(3)}  ${pr.status}${pr.kink ? ' (kink along u)' : ''}`;
}

/** What the oracle looked like: the step(s), the largest error estimate, and why entries were inconclusive. */
function oracleLine(r: GradcheckReportData, entries: readonly EntryReport[]): string {
  const items: { step: number; noise: number }[] = entries.length ? [...entries] : [...(r.projections ?? [])];
  if (items.length === 0) return '';
  const steps = [...new Set(items.map((e) => e.step))].sort((a, b) => a - b);
  const stepText = steps.length === 1 ? `h=${sci(steps[0]!)}${pow2(steps[0]!)}` : `h=${sci(steps[0]!)}…${sci(steps[steps.length - 1]!)}`;
  const what = r.scheme === 'richardson' ? 'Ridders from' : 'FD step';
  const noise = items.reduce((m, e) => Math.max(m, e.noise), 0);
  const kinks = entries.filter((e) => e.kink);
  const noisy = entries.filter((e) => !e.kink && e.status === 'inconclusive');
  const kinkText = kinks.length
    ? `kink: ${kinks.length} ${kinks.length === 1 ? 'entry' : 'entries'} at non-differentiable points (the oracle cannot judge them; P7 checks the op's convention there)`
    : (r.projections ?? []).some((pr) => pr.kink)
      ? 'kink: along a projection direction'
      : 'kink: none';
  const noisyText = noisy.length ? `; ${noisy.length} ${noisy.length === 1 ? 'entry' : 'entries'} with noise above ${NOISE_CAP}·max(1,|n|): the oracle is suspect there, not the gradient (try scheme "richardson")` : '';
  return `  ${what} ${stepText}; noise estimate e ≤ ${sci(noise)}; ${kinkText}${noisyText}`;
}

function formatReport(r: GradcheckReportData, entries: readonly EntryReport[]): string {
  const names = r.inputs.map((x) => x.name);
  const lines = [`op=${r.name} backend=${r.backend} mode=${r.mode} scheme=${r.scheme} verdict=${r.verdict}`];
  if (r.pairs.length === 0) {
    const ins = r.wrt.map((i) => `#${i} ${names[i]} shape=[${r.inputs[i]!.shape.join(',')}]`).join(', ');
    lines.push(`  inputs ${ins}  outputs ${r.outputs.map((o) => `#${o.output} y${o.output} shape=[${o.shape.join(',')}]`).join(', ')}`);
  }
  for (const pr of r.pairs) {
    lines.push(`  input #${pr.input} ${names[pr.input]} shape=[${pr.inShape.join(',')}]  output #${pr.output} y${pr.output} shape=[${pr.outShape.join(',')}]  checked ${pr.checked} entries, ${pr.failed} failed, ${pr.inconclusive} inconclusive`);
  }
  if (r.taylor) {
    const t = r.taylor;
    lines.push(`  Taylor remainder r(ε) = |L(x+εu) − L(x) − ε⟨∇L,u⟩| along a seeded direction, ⟨∇L,u⟩=${num(t.directionalDerivative)}; round-off floor ${sci(t.floor)}`);
    t.eps.forEach((eps, i) => lines.push(`    ε=2^${Math.log2(eps)}  r=${sci(t.residuals[i]!)}${i > 0 ? `  rate=${t.rates[i - 1] === null ? '— (near round-off)' : t.rates[i - 1]!.toFixed(3)}` : ''}`));
    lines.push(`  rates must be ≥ ${TAYLOR_MIN_RATE} (≈2 for a right gradient; a wrong one tends to 1)`);
  } else {
    const bound = r.mode === 'full' ? 'atol·max(1,|y|) + rtol·max(|a|,|n|) + 4·e' : 'atol·Σmax(1,|y|) + rtol·max(|a|,|n|,Σ|terms|) + 4·Σe';
    lines.push(`  tolerance: |a−n| ≤ ${bound} with atol=${r.atol.toExponential()} rtol=${r.rtol.toExponential()}; checked ${r.checked}, ${r.failed} failed, ${r.inconclusive} inconclusive`);
  }
  if (r.projections) {
    lines.push(`  projections (K=${r.projections.length}, Rademacher u and v from seed ${r.seed}):`);
    r.projections.forEach((pr) => lines.push(`    k=${pr.direction}  ${formatProjection(pr, names)}`));
  }
  if (r.worst.length && r.mode === 'full') {
    lines.push(`  ${r.verdict === 'pass' ? 'closest to their bound' : 'worst'} (sorted by |a−n| / tol):`);
    r.worst.forEach((e) => lines.push(`    ${formatEntry(e, names)}`));
  }
  const loc = r.localisation;
  if (loc) {
    lines.push(`  localisation (projection k=${loc.direction}):`);
    loc.pairs.forEach((pr) => lines.push(`    pair ${formatProjection(pr, names)}`));
    loc.blocks.forEach((b) =>
      lines.push(`    full mode on ${names[b.input]} columns [${b.columns.join(',')}) × y${b.output} rows [${b.rows.join(',')}): checked ${b.checked}, ${b.failed} failed, ${b.inconclusive} inconclusive`),
    );
    r.worst.forEach((e) => lines.push(`      ${formatEntry(e, names)}`));
    loc.notes.forEach((n) => lines.push(`    note: ${n}`));
  }
  const oracle = oracleLine(r, entries);
  if (oracle) lines.push(oracle);
  r.hints.forEach((h) => lines.push(`  hint: ${h}`));
  lines.push(`  reproduce: seed=${r.seed} (directions and cotangents); rebuild the inputs with tensorFromHex(hex, shape, dtype)`);
  lines.push(`  inputs (exact): ${r.inputs.map((x) => `${x.name} = f64-hex[${abbreviate(x.hex)}]`).join('  ')}`);
  return lines.join('\n');
}
