import { expect } from 'vitest';
import { OpInputError } from '../../engine/index.js';

/** What an error message must show: a string it contains, a RegExp it matches, or a shape it names as `[a,b,c]`. */
export type MessageFragment = string | RegExp | readonly number[];

/**
 * Asserts that `run` throws an OpInputError for `op` whose message starts with `${op}: ` and shows every fragment:
 * strings are contained, RegExps match, and number arrays are shapes that must appear written `[a,b,c]`.
 */
export function expectOpError(run: () => unknown, op: string, ...fragments: MessageFragment[]): void {
  let error: unknown;
  try {
    run();
  } catch (e) {
    error = e;
  }
  expect(error, `${op}: expected an OpInputError`).toBeInstanceOf(OpInputError);
  const { op: named, message } = error as OpInputError;
  expect(named).toBe(op);
  expect(message.startsWith(`${op}: `), `message should start with '${op}: ': ${message}`).toBe(true);
  for (const fragment of fragments) {
    if (fragment instanceof RegExp) expect(message).toMatch(fragment);
    else if (typeof fragment === 'string') expect(message).toContain(fragment);
    else expect(message).toContain(`[${fragment.join(',')}]`);
  }
}

/** Elementwise |actual − expected| ≤ tol·max(1, |expected|), with equal lengths; a failure names the index and both values. */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol = 1e-12): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < actual.length; i++) {
    const scale = Math.max(1, Math.abs(expected[i]!));
    if (!(Math.abs(actual[i]! - expected[i]!) <= tol * scale)) expect.fail(`[${i}] ${actual[i]} vs expected ${expected[i]}`);
  }
}
