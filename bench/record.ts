/**
 * One measurement, as written by `npm run bench -- --out FILE` (a JSON array of these). `engine` tells our
 * engine ("ours") from the peers ("tfjs-cpu", "tfjs-wasm", "tfjs-webgpu", "onnxruntime", "gpujs"), and
 * "hardware" marks the measured peaks (suite "peak"). Figures are null where they do not apply, or where the case
 * could not run: then `error` says why, since a peer that fails here is reported, not dropped.
 */
export interface BenchRecord {
  suite: string;
  op: string;
  shape: string;
  backend: string;
  engine: string;
  dtype: string;
  /** Steady state: the median of the timed calls, after the warm-up. */
  ms_median: number | null;
  /** The first call alone, apart from the steady state: JIT, shader and pipeline compiles, caches warming. */
  first_ms: number | null;
  /** Our WebGPU cases, where the adapter has timestamp queries: median device time per call (gflops stay wall-clock). */
  gpu_ms?: number;
  gflops: number | null;
  gbps: number | null;
  /** gflops over the device's FMA peak, or (memory-bound ops) gbps over its copy bandwidth; see bench/peaks/. */
  peak_fraction: number | null;
  error?: string;
}

/** Three significant digits: enough to compare runs on a noisy machine, without false precision. */
const figure = (v: number | null): string => (v === null ? '–' : v >= 100 ? v.toFixed(0) : v.toPrecision(3));
const percent = (v: number | null): string => (v === null ? '–' : `${figure(100 * v)}%`);
/** An error's first line, short enough for a table cell (the JSON keeps all of it). */
const oneLine = (error: string) => {
  const first = error.split('\n').find((l) => l.trim()) ?? '';
  return first.length > 160 ? `${first.slice(0, 159)}…` : first;
};
const line = (cells: readonly string[]) => `| ${cells.map((c) => c.replaceAll('|', '\\|')).join(' | ')} |`;
const table = (header: readonly string[], rows: readonly (readonly string[])[]) => [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');

/** The records as a markdown table, one row each, in the order given; GPU-time and error columns only when some have one. */
export function markdownTable(records: readonly BenchRecord[]): string {
  const withErrors = records.some((r) => r.error !== undefined);
  const withGpu = records.some((r) => r.gpu_ms !== undefined);
  const header = ['suite', 'op', 'shape', 'backend', 'engine', 'dtype', 'ms (median)', ...(withGpu ? ['GPU ms'] : []), 'first call ms', 'GFLOP/s', 'GB/s', '% of peak', ...(withErrors ? ['error'] : [])];
  const rows = records.map((r) => [
    r.suite, r.op, r.shape, r.backend, r.engine, r.dtype,
    figure(r.ms_median), ...(withGpu ? [figure(r.gpu_ms ?? null)] : []), figure(r.first_ms), figure(r.gflops), figure(r.gbps), percent(r.peak_fraction),
    ...(withErrors ? [oneLine(r.error ?? '')] : []),
  ]);
  return table(header, rows);
}

/** The op of the one record that stands for a whole engine whose setup failed. */
export const SETUP_OP = 'setup';

/**
 * One row per (op, shape) of `suite`, one column per engine and backend, each cell "median ms (% of peak)", so
 * that the engines read side by side; '' when the suite has no records.
 */
export function comparisonTable(records: readonly BenchRecord[], suite: string): string {
  const mine = records.filter((r) => r.suite === suite);
  const columnOf = (r: BenchRecord) => (r.engine.endsWith(r.backend) ? r.engine : `${r.engine} ${r.backend}`);
  const caseOf = (r: BenchRecord) => `${r.op} ${r.shape}`;
  const columns = [...new Set(mine.map(columnOf))];
  const cases = [...new Set(mine.filter((r) => r.op !== SETUP_OP).map(caseOf))];
  if (!cases.length) return '';
  const cell = (key: string, column: string) => {
    const inColumn = mine.filter((r) => columnOf(r) === column);
    const r = inColumn.find((m) => caseOf(m) === key) ?? inColumn.find((m) => m.op === SETUP_OP);
    if (!r) return '';
    return r.error !== undefined ? 'error' : `${figure(r.ms_median)} (${percent(r.peak_fraction)})`;
  };
  return table(['op shape', ...columns], cases.map((key) => [key, ...columns.map((c) => cell(key, c))]));
}

/**
 * For every case (op, shape, dtype, engine) measured on both backends, the ratio of their median times
 * (`over` / `under`) as a markdown table; '' when no case was measured on both.
 */
export function ratioTable(records: readonly BenchRecord[], over: string, under: string): string {
  const key = (r: BenchRecord) => `${r.engine}\u0000${r.op}\u0000${r.shape}\u0000${r.dtype}`;
  const timed = records.filter((r) => r.ms_median !== null);
  const base = new Map(timed.filter((r) => r.backend === under).map((r) => [key(r), r]));
  const rows = timed.flatMap((r) => {
    const b = r.backend === over ? base.get(key(r)) : undefined;
    return b ? [[r.op, r.shape, r.dtype, figure(b.ms_median), figure(r.ms_median), figure(r.ms_median! / b.ms_median!)]] : [];
  });
  if (!rows.length) return '';
  return table(['op', 'shape', 'dtype', `${under} ms`, `${over} ms`, `${over}/${under}`], rows);
}
