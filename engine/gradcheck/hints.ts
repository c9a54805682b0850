import type { EntryReport } from './types.js';

/**
 * Patterns in the failing entries that point at the wrong term of a backward rule: one input column (a term
 * for that element), one output row, a shared coordinate along an axis, the diagonal of an elementwise op, or
 * a constant factor between analytical and numerical values.
 */

const at = (name: string, index: readonly number[]) => `${name}(${index.join(',')})`;

function sharedCoordinates(indices: readonly number[][]): { axis: number; value: number }[] {
  const rank = indices[0]?.length ?? 0;
  const shared: { axis: number; value: number }[] = [];
  for (let axis = 0; axis < rank; axis++) {
    const value = indices[0]![axis]!;
    if (indices.every((ix) => ix[axis] === value)) shared.push({ axis, value });
  }
  return shared;
}

function commonFactor(failures: readonly EntryReport[]): number | undefined {
  if (failures.some((e) => e.numerical === 0)) return undefined;
  const c = failures[0]!.analytical / failures[0]!.numerical;
  return failures.every((e) => Math.abs(e.analytical / e.numerical - c) <= 1e-6 * Math.max(1, Math.abs(c))) ? c : undefined;
}

export function clusteringHints(entries: readonly EntryReport[], inputName: (i: number) => string, outputName: (o: number) => string): string[] {
  const failures = entries.filter((e) => e.status === 'fail');
  if (failures.length === 0) return [];
  if (failures.length === 1) {
    const e = failures[0]!;
    return [`a single entry fails: J[${at(outputName(e.output), e.outIndex)} ← ${at(inputName(e.input), e.inIndex)}]`];
  }
  const hints: string[] = [];
  const first = failures[0]!;
  const sameInput = failures.every((e) => e.input === first.input);
  const sameOutput = failures.every((e) => e.output === first.output);

  if (sameInput) {
    const shared = sharedCoordinates(failures.map((e) => e.inIndex));
    if (shared.length === first.inIndex.length) hints.push(`all failures share input column ${at(inputName(first.input), first.inIndex)} → a wrong term for that element`);
    else shared.forEach(({ axis, value }) => hints.push(`all failing columns of ${inputName(first.input)} have index ${value} on axis ${axis}`));
  }
  if (sameOutput) {
    const shared = sharedCoordinates(failures.map((e) => e.outIndex));
    if (shared.length === first.outIndex.length) hints.push(`all failures share output row ${at(outputName(first.output), first.outIndex)}`);
    else shared.forEach(({ axis, value }) => hints.push(`all failing rows of ${outputName(first.output)} have index ${value} on axis ${axis}`));
  }
  if (sameInput && sameOutput && first.inIndex.length === first.outIndex.length) {
    const diagonal = (e: EntryReport) => e.inIndex.every((v, d) => v === e.outIndex[d]);
    if (failures.every(diagonal)) hints.push('failures lie on the diagonal (y(i) ← x(i)): the elementwise part of the derivative is wrong');
    else if (!failures.some(diagonal)) hints.push('failures lie off the diagonal: the cross terms between elements are wrong');
  }
  const c = commonFactor(failures);
  if (c !== undefined) hints.push(`analytical = ${c.toPrecision(6)} × numerical on every failing entry: a constant factor or sign is wrong`);
  else if (failures.every((e) => e.analytical === 0)) hints.push('the analytical value is 0 on every failing entry: a term is missing');
  else if (failures.every((e) => Math.abs(e.numerical) <= e.tol)) hints.push('the numerical value is ~0 on every failing entry: the analytical side has a spurious term');
  return hints;
}
