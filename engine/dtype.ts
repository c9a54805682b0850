/** The element types a tensor can hold. Floats carry gradients; int32 holds labels and indices. */
export type DType = 'float32' | 'float64' | 'int32';

export type TypedArray = Float32Array | Float64Array | Int32Array;

export const DTYPES: readonly DType[] = ['float32', 'float64', 'int32'];

export function isFloat(dtype: DType): boolean {
  return dtype === 'float32' || dtype === 'float64';
}

export function bytesPerElement(dtype: DType): number {
  return dtype === 'float64' ? 8 : 4;
}

export function typedArrayFor(dtype: DType, length: number): TypedArray {
  switch (dtype) {
    case 'float32': return new Float32Array(length);
    case 'float64': return new Float64Array(length);
    case 'int32': return new Int32Array(length);
  }
}

/** Copies `values` into a fresh array of `dtype`. Int32 refuses non-integers rather than truncating them. */
export function toTypedArray(values: ArrayLike<number>, dtype: DType): TypedArray {
  const out = typedArrayFor(dtype, values.length);
  if (dtype === 'int32') {
    for (let i = 0; i < values.length; i++) {
      const v = values[i]!;
      if (!Number.isInteger(v) || v < -2147483648 || v > 2147483647) {
        throw new TypeError(`int32 tensor: value ${v} at flat index ${i} is not a 32-bit integer`);
      }
      out[i] = v;
    }
  } else {
    out.set(values as ArrayLike<number>);
  }
  return out;
}
