import fc from 'fast-check';

/**
 * One global seed for every property test, so that failures replay: a failing run prints its seed and path;
 * rerun with FC_SEED=<seed> (and FC_RUNS for a longer, nightly-style run).
 */
const seed = Number(process.env.FC_SEED ?? 20261125);
fc.configureGlobal({
  seed,
  numRuns: Number(process.env.FC_RUNS ?? 30),
  endOnFailure: true,
  interruptAfterTimeLimit: 60_000,
  markInterruptAsFailure: true,
});
