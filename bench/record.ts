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
