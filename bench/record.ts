/**
 * One measurement, as written by `npm run bench -- --out FILE` (a JSON array of these). `engine` tells our
 * engine ("ours") from peers measured by other suites; GFLOP/s and GB/s are null where they do not apply.
 */
export interface BenchRecord {
  suite: string;
  op: string;
  shape: string;
  backend: string;
  engine: string;
  dtype: string;
  ms_median: number;
  gflops: number | null;
  gbps: number | null;
}

/** Three significant digits: enough to compare runs on a noisy machine, without false precision. */
const figure = (v: number | null): string => (v === null ? '–' : v >= 100 ? v.toFixed(0) : v.toPrecision(3));

/** The records as a markdown table, one row each, in the order given. */
export function markdownTable(records: readonly BenchRecord[]): string {
  const header = ['suite', 'op', 'shape', 'backend', 'engine', 'dtype', 'ms (median)', 'GFLOP/s', 'GB/s'];
  const rows = records.map((r) => [r.suite, r.op, r.shape, r.backend, r.engine, r.dtype, figure(r.ms_median), figure(r.gflops), figure(r.gbps)]);
  const line = (cells: readonly string[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

/**
 * For every case (op, shape, dtype, engine) measured on both backends, the ratio of their median times
 * (`over` / `under`) as a markdown table; '' when no case was measured on both.
 */
export function ratioTable(records: readonly BenchRecord[], over: string, under: string): string {
  const key = (r: BenchRecord) => `${r.engine}\u0000${r.op}\u0000${r.shape}\u0000${r.dtype}`;
  const base = new Map(records.filter((r) => r.backend === under).map((r) => [key(r), r]));
  const rows = records.flatMap((r) => {
    const b = r.backend === over ? base.get(key(r)) : undefined;
    return b ? [[r.op, r.shape, r.dtype, figure(b.ms_median), figure(r.ms_median), figure(r.ms_median / b.ms_median)]] : [];
  });
  if (!rows.length) return '';
  const header = ['op', 'shape', 'dtype', `${under} ms`, `${over} ms`, `${over}/${under}`];
  const line = (cells: readonly string[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}
