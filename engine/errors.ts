/** Errors that name what was wrong: the op, and the shapes and dtypes it was given. */
export class EngineError extends Error {
  override name = 'EngineError';
}

/** An op was called with inputs it cannot accept (shapes, dtypes, attributes). */
export class OpInputError extends EngineError {
  override name = 'OpInputError';
  constructor(readonly op: string, readonly detail: string, readonly shapes: readonly (readonly number[])[] = []) {
    super(`${op}: ${detail}${shapes.length ? ` (input shapes ${shapes.map(fmtShape).join(', ')})` : ''}`);
  }
}

/** A backend has no kernel for an op (no silent fallback). */
export class MissingKernelError extends EngineError {
  override name = 'MissingKernelError';
  constructor(readonly op: string, readonly backend: string) {
    super(`${op}: backend '${backend}' has no kernel for this op`);
  }
}

/** Anomaly mode found a NaN or Inf. */
export class AnomalyError extends EngineError {
  override name = 'AnomalyError';
}

export function fmtShape(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}
