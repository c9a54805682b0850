import { EngineError } from '../../errors.js';

/**
 * Uniform parameter blocks: one declaration gives both the WGSL struct and the packing of its values, so the
 * two can never disagree. Fields are 32-bit scalars or lists of up to 8 u32 (shapes, strides), laid out by
 * WGSL's uniform rules (a list is `array<vec4<u32>, 2>`, 16-byte aligned); `at()` writes the WGSL that reads
 * one entry.
 */

export type ParamType = 'u32' | 'i32' | 'f32' | 'list';

/** Longest shape a kernel takes after merging dims (see `coalesce` in layout.ts). */
export const MAX_RANK = 8;

/** Largest parameter block (the dynamic-offset uniform binding has this fixed size). */
export const PARAM_BYTES = 256;

export class ParamLayout<F extends Record<string, ParamType>> {
  /** Each field with its position in 32-bit words. */
  private readonly slots: { name: string; type: ParamType; word: number }[] = [];
  readonly bytes: number;

  constructor(private readonly fields: F) {
    let at = 0;
    for (const [name, type] of Object.entries(fields)) {
      const align = type === 'list' ? 16 : 4;
      at = Math.ceil(at / align) * align;
      this.slots.push({ name, type, word: at / 4 });
      at += type === 'list' ? 32 : 4;
    }
    this.bytes = Math.ceil(Math.max(at, 16) / 16) * 16;
    if (this.bytes > PARAM_BYTES) throw new EngineError(`parameter block of ${this.bytes} B exceeds ${PARAM_BYTES} B`);
  }

  /** `struct Params { ... }` with the fields in declaration order. */
  wgsl(structName = 'Params'): string {
    const body = Object.entries(this.fields)
      .map(([name, type]) => `  ${name}: ${type === 'list' ? 'array<vec4<u32>, 2>' : type},`)
      .join('\n');
    return `struct ${structName} {\n${body}\n}\n`;
  }

  /**
   * The block's words. Integers are checked, not wrapped: a u32 (or list entry) must lie in [−2^31, 2^32), the
   * negative ones being meant as two's complement (negative strides step backwards in WGSL's wrapping u32
   * arithmetic), and an i32 in [−2^31, 2^31). An offset or count past that would address the wrong element.
   */
  pack(values: { [K in keyof F]: F[K] extends 'list' ? readonly number[] : number }): Uint32Array {
    const words = new Uint32Array(this.bytes / 4);
    const asF32 = new Float32Array(words.buffer);
    const asI32 = new Int32Array(words.buffer);
    for (const { name, type, word: w } of this.slots) {
      const v = values[name as keyof F] as number | readonly number[];
      if (type === 'list') {
        const list = v as readonly number[];
        if (list.length > MAX_RANK) throw new EngineError(`parameter '${name}' has ${list.length} entries, more than ${MAX_RANK}`);
        list.forEach((x, i) => (words[w + i] = checked(`${name}[${i}]`, x, 'u32')));
      } else if (type === 'f32') asF32[w] = v as number;
      else if (type === 'i32') asI32[w] = checked(name, v as number, 'i32');
      else words[w] = checked(name, v as number, 'u32');
    }
    return words;
  }
}

/** WGSL expression for entry `index` (a WGSL u32 expression) of the list field `field`, e.g. `at('p.shape', 'd')`. */
export function at(field: string, index: string | number): string {
  return typeof index === 'number' ? `${field}[${index >> 2}][${index & 3}]` : `${field}[(${index}) / 4u][(${index}) % 4u]`;
}

const INT_RANGE = { u32: [-(2 ** 31), 2 ** 32], i32: [-(2 ** 31), 2 ** 31] } as const;

function checked(name: string, value: number, type: 'u32' | 'i32'): number {
  const [low, high] = INT_RANGE[type];
  if (!(value >= low && value < high)) {
    throw new EngineError(`WebGPU: kernel parameter '${name}' = ${value} does not fit in ${type} (the tensor is too large for 32-bit indices)`);
  }
  return value;
}
