/** Global autograd switches: whether ops are recorded, and whether anomaly checks run. */
let gradEnabled = true;
let anomaly = false;

export function isGradEnabled(): boolean {
  return gradEnabled;
}

function withGradMode<T>(enabled: boolean, fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = enabled;
  try {
    const r = fn();
    if (r instanceof Promise) throw new Error('noGrad/enableGrad take a synchronous function');
    return r;
  } finally {
    gradEnabled = prev;
  }
}

/** Runs `fn` without recording ops for autograd (like `torch.no_grad()`). */
export function noGrad<T>(fn: () => T): T {
  return withGradMode(false, fn);
}

/** Runs `fn` with recording on, even inside `noGrad`. */
export function enableGrad<T>(fn: () => T): T {
  return withGradMode(true, fn);
}

export function isAnomalyMode(): boolean {
  return anomaly;
}

/** Anomaly mode: the first op whose forward or backward produces NaN/Inf throws, naming the op and shapes. */
export function setAnomalyMode(on: boolean): void {
  anomaly = on;
}

export function detectAnomaly<T>(fn: () => T): T {
  const prev = anomaly;
  anomaly = true;
  try {
    return fn();
  } finally {
    anomaly = prev;
  }
}

/**
 * Runs a backward rule with the per-op forward checks off. In anomaly mode a rule is judged by the gradients it
 * returns, which the engine checks and attributes to the rule's op ("sqrt (backward)"), not by intermediate
 * values that it masks away (log 0 in pow's exponent rule, behind a `where`).
 */
export function withoutForwardChecks<T>(fn: () => T): T {
  const prev = anomaly;
  anomaly = false;
  try {
    return fn();
  } finally {
    anomaly = prev;
  }
}
