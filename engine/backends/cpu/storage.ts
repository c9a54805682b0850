import type { Backend, Storage, View } from '../../backend.js';
import type { DType, TypedArray } from '../../dtype.js';

/** CPU storage is a typed array; the garbage collector frees it. */
export interface CpuStorage extends Storage {
  readonly data: TypedArray;
}

export function dataOf(view: View): TypedArray {
  return (view.storage as CpuStorage).data;
}

export function makeCpuStorage(backend: Backend, dtype: DType, data: TypedArray): CpuStorage {
  return { backend, dtype, length: data.length, refs: 0, data };
}
