import { writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { Bench } from 'tinybench';
import { type BenchRecord, markdownTable } from './record.js';
import type { BenchCase, Suite } from './suite.js';
import { cpuSuite } from './suites/cpu.js';

/*
 * npm run bench [-- --filter SUBSTR] [--quick] [--out FILE]
 * Runs every suite's cases whose label ("suite op shape dtype") contains SUBSTR, prints a markdown table and
 * optionally writes the records as JSON. Medians, not means: this machine is shared and its second vCPU
 * comes and goes (see ../shared/spec/peers.md), which shows up as outliers.
 */

const suites: Suite[] = [cpuSuite];

const { values: args } = parseArgs({
  options: {
    filter: { type: 'string' },
    quick: { type: 'boolean', default: false },
    out: { type: 'string' },
  },
});

/** Timing budget per case: at least `iterations` calls and `time` ms, after a warm-up for the JIT. */
const budget = args.quick
  ? { time: 200, iterations: 3, warmupTime: 50, warmupIterations: 1 }
  : { time: 2000, iterations: 10, warmupTime: 500, warmupIterations: 3 };

const label = (suite: Suite, c: BenchCase) => `${suite.name} ${c.op} ${c.shape} ${c.dtype}`;

async function measure(suite: Suite, c: BenchCase): Promise<BenchRecord> {
  const prepared = c.prepare();
  try {
    const bench = new Bench({ ...budget, throws: true });
    bench.add(label(suite, c), prepared.run);
    const [task] = await bench.run();
    const result = task!.result;
    if (result.state !== 'completed') throw new Error(`${label(suite, c)}: benchmark ended in state ${result.state}`);
    const ms = result.latency.p50;
    return {
      suite: suite.name,
      op: c.op,
      shape: c.shape,
      backend: c.backend,
      engine: suite.engine,
      dtype: c.dtype,
      ms_median: ms,
      gflops: c.flops === null ? null : c.flops / (ms * 1e6),
      gbps: c.bytes / (ms * 1e6),
    };
  } finally {
    prepared.dispose();
  }
}

const records: BenchRecord[] = [];
for (const suite of suites) {
  for (const c of suite.cases()) {
    if (args.filter && !label(suite, c).includes(args.filter)) continue;
    process.stderr.write(`${label(suite, c)} …\n`);
    records.push(await measure(suite, c));
  }
}

console.log(`node ${process.version}, ${cpus()[0]?.model ?? 'unknown CPU'} ×${cpus().length}, load average ${loadavg()[0]!.toFixed(2)} at the end${args.quick ? ', --quick' : ''}\n`);
console.log(markdownTable(records));
if (args.out) writeFileSync(args.out, JSON.stringify(records, null, 2) + '\n');
