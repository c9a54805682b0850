import type { Kernel } from '../../backend.js';
import type { RandomAttrs } from '../../random.js';
import { randomValue } from '../../random.js';
import { dataOf } from './storage.js';

const full: Kernel<{ value: number }> = (_inputs, [out], { value }) => {
  dataOf(out!).fill(value);
};

const random: Kernel<RandomAttrs> = (_inputs, [out], attrs) => {
  const dst = dataOf(out!);
  const words = new Uint32Array(4);
  for (let i = 0; i < dst.length; i++) dst[i] = randomValue(attrs, i, words);
};

export const creationKernels: Record<string, Kernel> = { full, random };
