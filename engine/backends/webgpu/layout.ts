import type { View } from '../../backend.js';
import { EngineError } from '../../errors.js';
import { broadcastStrides } from '../cpu/strided.js';
import { MAX_RANK, at } from './params.js';

/**
 * Index arithmetic done on the host, so that shaders divide as little as possible (integer division is slow
 * on GPUs and scalarised on lavapipe's SIMD lanes).
 */

export interface Walk {
  /** Sizes of the merged dims, outermost first. */
  shape: number[];
  /** Per operand, its stride along each merged dim (0 where it is broadcast). */
  strides: number[][];
}

/**
 * Merges neighbouring dims that every operand steps through as one (stride[d] = stride[d+1]·shape[d+1]) and
 * drops size-1 dims: a contiguous tensor becomes one dim, a bias broadcast over rows two.
 */
export function coalesce(shape: readonly number[], strides: readonly (readonly number[])[]): Walk {
  const outShape: number[] = [];
  const outStrides: number[][] = strides.map(() => []);
  for (let d = 0; d < shape.length; d++) {
    const size = shape[d]!;
    if (size === 1) continue;
    const last = outShape.length - 1;
    const mergeable = last >= 0 && strides.every((s, k) => outStrides[k]![last] === s[d]! * size);
    if (mergeable) {
      outShape[last]! *= size;
      strides.forEach((s, k) => (outStrides[k]![last] = s[d]!));
    } else {
      outShape.push(size);
      strides.forEach((s, k) => outStrides[k]!.push(s[d]!));
    }
  }
  if (outShape.length > MAX_RANK) {
    throw new EngineError(`WebGPU: layouts of more than ${MAX_RANK} non-mergeable dims are not supported (shape [${shape.join(',')}])`);
  }
  return { shape: outShape, strides: outStrides };
}

/** The walk over `shape` (a broadcast result) of the given views. */
export function broadcastWalk(views: readonly View[], shape: readonly number[]): Walk {
  return coalesce(
    shape,
    views.map((v) => broadcastStrides(v, shape)),
  );
}

/** Where a list of per-dim values lives in a parameter block: a list field's name, or the WGSL for entry d. */
type ListAt = string | ((d: number) => string);

const entry = (list: ListAt, d: number) => (typeof list === 'string' ? at(list, d) : list(d));

/**
 * WGSL statements that turn the flat row-major index `flat` over a walk of `rank` dims (sizes in `shape`) into
 * offsets: `var <name> = <init>`, then `+= coord · <strides>[d]` per dim. Ranks are constants of the shader
 * (kernel keys carry them), and the outermost dim needs no division.
 */
export function offsetsWgsl(rank: number, flat: string, shape: ListAt, terms: readonly { name: string; init: string; strides: ListAt }[]): string {
  const rem = `${typeof shape === 'string' ? shape.replace(/\W/g, '_') : 'flat'}_rem`;
  const lines = [`  var ${rem} = ${flat};`];
  for (const t of terms) lines.push(`  var ${t.name} = ${t.init};`);
  for (let d = rank - 1; d >= 0; d--) {
    const size = entry(shape, d);
    lines.push(`  { let c = ${d === 0 ? rem : `${rem} % ${size}`};${d > 0 ? ` ${rem} = ${rem} / ${size};` : ''}`);
    for (const t of terms) lines.push(`    ${t.name} += c * ${entry(t.strides, d)};`);
    lines.push('  }');
  }
  return lines.join('\n') + '\n';
}

export function padList(list: readonly number[]): number[] {
  return [...list, ...new Array<number>(MAX_RANK - list.length).fill(0)];
}
