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

const fixed = (v: number | null, digits: number): string => (v === null ? '–' : v.toFixed(digits));

/** The records as a markdown table, one row each, in the order given. */
export function markdownTable(records: readonly BenchRecord[]): string {
  const header = ['suite', 'op', 'shape', 'backend', 'engine', 'dtype', 'ms (median)', 'GFLOP/s', 'GB/s'];
  const rows = records.map((r) => [r.suite, r.op, r.shape, r.backend, r.engine, r.dtype, fixed(r.ms_median, 3), fixed(r.gflops, 2), fixed(r.gbps, 2)]);
  const line = (cells: readonly string[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}
