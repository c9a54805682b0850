/**
 * Counter-based random numbers (Philox-4x32-10, Salmon et al. 2011). Element i of a draw is a pure function of
 * (seed, offset + i), so any backend can produce the same numbers in parallel, and a generator's whole state is
 * two integers that a checkpoint can save.
 */

import { normalFromWords } from './random-normal.js';

const M0 = 0xd2511f53;
const M1 = 0xcd9e8d57;
const W0 = 0x9e3779b9;
const W1 = 0xbb67ae85;

/** High 32 bits of the 64-bit product of two uint32s. */
export function mulhi(a: number, b: number): number {
  const aLo = a & 0xffff;
  const aHi = a >>> 16;
  const bLo = b & 0xffff;
  const bHi = b >>> 16;
  const lolo = aLo * bLo;
  const mid1 = aHi * bLo + (lolo >>> 16);
  const mid2 = aLo * bHi + (mid1 & 0xffff);
  return (aHi * bHi + (mid1 >>> 16) + (mid2 >>> 16)) >>> 0;
}

/** Philox-4x32-10 of counter (c0, c1, c2, c3) under key (k0, k1); writes 4 uint32 words into `out`. */
export function philox(c0: number, c1: number, c2: number, c3: number, k0: number, k1: number, out: Uint32Array): void {
  for (let r = 0; r < 10; r++) {
    const hi0 = mulhi(M0, c0);
    const lo0 = Math.imul(M0, c0) >>> 0;
    const hi1 = mulhi(M1, c2);
    const lo1 = Math.imul(M1, c2) >>> 0;
    c0 = (hi1 ^ c1 ^ k0) >>> 0;
    c1 = lo1;
    c2 = (hi0 ^ c3 ^ k1) >>> 0;
    c3 = lo0;
    k0 = (k0 + W0) >>> 0;
    k1 = (k1 + W1) >>> 0;
  }
  out[0] = c0;
  out[1] = c1;
  out[2] = c2;
  out[3] = c3;
}

export type Distribution = 'uniform' | 'normal' | 'randint';

export interface RandomAttrs {
  seed: number;
  offset: number;
  distribution: Distribution;
  /** randint: [low, high). */
  low?: number;
  high?: number;
}

/**
 * The value of element `index` of a draw. uniform: 24 random bits scaled to [0, 1) (exact in float32);
 * normal: Box–Muller on two words in fixed point (engine/random-normal.ts, bit-identical on every backend, float32
 * precision even for float64 tensors); randint: floor(u·(high−low)) + low with a 32-bit u, exactly.
 */
export function randomValue(attrs: RandomAttrs, index: number, words: Uint32Array): number {
  const counter = attrs.offset + index;
  philox(counter >>> 0, Math.floor(counter / 4294967296) >>> 0, 0, 0, attrs.seed >>> 0, Math.floor(attrs.seed / 4294967296) >>> 0, words);
  switch (attrs.distribution) {
    case 'uniform':
      return (words[0]! >>> 8) * 2 ** -24;
    case 'normal':
      return normalFromWords(words[0]!, words[1]!);
    case 'randint': {
      // floor(w·range / 2^32) exactly, as the high word of a 32×32-bit product (a float product is inexact).
      const range = attrs.high! - attrs.low!;
      return attrs.low! + (range === 2 ** 32 ? words[0]! : mulhi(words[0]!, range));
    }
  }
}

/** A seed and a position in its stream; each draw advances the position by the number of elements drawn. */
export class Generator {
  constructor(
    public seed = 0,
    public offset = 0,
  ) {}

  /** Reserves `n` counters and returns where they start. */
  take(n: number): number {
    const start = this.offset;
    this.offset += n;
    return start;
  }

  manualSeed(seed: number): this {
    if (!Number.isSafeInteger(seed) || seed < 0) throw new RangeError(`manualSeed: seed must be a non-negative safe integer, got ${seed}`);
    this.seed = seed;
    this.offset = 0;
    return this;
  }

  getState(): { seed: number; offset: number } {
    return { seed: this.seed, offset: this.offset };
  }

  setState(state: { seed: number; offset: number }): void {
    this.seed = state.seed;
    this.offset = state.offset;
  }
}

export const defaultGenerator = new Generator(0);

/** Seeds the default generator (like `torch.manual_seed`). */
export function manualSeed(seed: number): void {
  defaultGenerator.manualSeed(seed);
}
