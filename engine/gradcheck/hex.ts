import type { DType } from '../dtype.js';
import { type Tensor, fromArray } from '../tensor.js';

/**
 * Exact float64 bits, so a failing case can be rebuilt bit for bit (decimal printing rounds, and a gradient
 * check at a kink or a tie can hinge on the last bit).
 */

export function hexOf(values: ArrayLike<number>): string {
  const buf = new DataView(new ArrayBuffer(8));
  return Array.from(values, (v) => {
    buf.setFloat64(0, v);
    return '0x' + buf.getBigUint64(0).toString(16).padStart(16, '0');
  }).join(',');
}

export function valuesFromHex(hex: string): Float64Array {
  const buf = new DataView(new ArrayBuffer(8));
  const words = hex.trim() === '' ? [] : hex.split(',');
  return Float64Array.from(words, (w) => {
    buf.setBigUint64(0, BigInt(w.trim()));
    return buf.getFloat64(0);
  });
}

/** Rebuilds an input from a report: `tensorFromHex(info.hex, info.shape, info.dtype)`. */
export function tensorFromHex(hex: string, shape: readonly number[], dtype: DType = 'float64'): Tensor {
  return fromArray(valuesFromHex(hex), shape, { dtype });
}

/** At most 16 values, for a report's text (the JSON form keeps them all). */
export function abbreviate(hex: string): string {
  const words = hex.split(',');
  return words.length > 16 ? `${words.slice(0, 16).join(',')}, … (${words.length} values; all in toJSON())` : hex;
}
