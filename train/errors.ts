/**
 * Errors that the command line reports as one plain message (no stack trace): something about the user's
 * inputs was wrong — a configuration, a data folder, a checkpoint — and the message says what and where.
 */
export class TrainError extends Error {
  override name = 'TrainError';
}

/** A configuration file or flag that does not fit the schema; `problems` lists every one of them. */
export class ConfigError extends TrainError {
  override name = 'ConfigError';
  constructor(readonly source: string, readonly problems: readonly string[]) {
    super(`invalid configuration (${source}):\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

/** A data set that cannot be read: a missing folder, an unreadable or corrupt file. `file` names it. */
export class DataError extends TrainError {
  override name = 'DataError';
  constructor(readonly file: string, readonly detail: string) {
    super(`${file}: ${detail}`);
  }
}

/** A checkpoint that is missing, malformed, or does not fit the model it is loaded into. */
export class CheckpointError extends TrainError {
  override name = 'CheckpointError';
}

/**
 * A loss that became NaN or ±Infinity (or, in anomaly mode, the first op that produced one); the run stops at
 * `step` without saving, so the last checkpoint on disk is the last good state.
 */
export class NonFiniteLossError extends TrainError {
  override name = 'NonFiniteLossError';
  constructor(readonly step: number, readonly detail: string, readonly lastCheckpoint: string | undefined, anomalyMode: boolean) {
    super(
      `${detail} at step ${step}; the run stopped without saving this state. ` +
        (lastCheckpoint ? `The last good checkpoint is ${lastCheckpoint}.` : 'No checkpoint was written before it.') +
        (anomalyMode ? '' : ' Rerun with --detect-anomaly to name the op that produces it.'),
    );
  }
}
