/** Gradient checking (./README.md): gradcheck, gradgradcheck, the Taylor test, jvp/vjp consistency, backend parity. */
export * from './types.js';
export { gradcheck, assertGradcheck, gradgradcheck, assertGradgradcheck } from './gradcheck.js';
export { checkJvpVjp, type JvpVjpOptions, type JvpVjpReport, type JvpVjpReportData } from './jvpvjp.js';
export { compareBackends, type ParityOptions, type ParityReport, type ParityReportData, type ParityEntry, type ParityTensorSummary } from './parity.js';
export { hexOf, valuesFromHex, tensorFromHex } from './hex.js';
export { autoStep } from './problem.js';
export { FULL_MODE_LIMIT } from './projected.js';
export { defaultTolerance } from './tolerance.js';
