import type { Kernel, View } from '../../backend.js';
import { EngineError } from '../../errors.js';
import type { RandomAttrs } from '../../random.js';
import { webgpu } from './context.js';
import { ParamLayout } from './params.js';
import { PHILOX_WGSL } from './philox.js';
import { grid } from './queue.js';
import { MAIN_1D, WG, bindings, storagesOf, wgslType } from './wgsl.js';

/** Filled and random tensors, made on the device (no host array crosses over). */

const fillParams = new ParamLayout({ n: 'u32', value: 'u32' });

/** The fill value's bits: an f32 or i32 pattern, reinterpreted in the shader. */
function valueBits(value: number, int: boolean): number {
  return int ? value | 0 : new Uint32Array(new Float32Array([value]).buffer)[0]!;
}

/** Records: every element of the contiguous `out` becomes `value`. */
export function fill(out: View, value: number): void {
  const n = out.shape.reduce((a, b) => a * b, 1);
  const t = wgslType(out.dtype);
  webgpu().queue.dispatch({
    key: `full:${t}`,
    code: () => fillParams.wgsl() + bindings([], [['out', t]]) + MAIN_1D + `\n  if (i < p.n) { out[i] = bitcast<${t}>(p.value); }\n}\n`,
    reads: [],
    writes: storagesOf([out]),
    params: fillParams.pack({ n, value: valueBits(value, t === 'i32') >>> 0 }),
    workgroups: grid(Math.ceil(n / WG)),
    cost: n,
  });
}

const full: Kernel<{ value: number }> = (_inputs, [out], { value }) => fill(out!, value);

const randomParams = new ParamLayout({ n: 'u32', offsetLo: 'u32', offsetHi: 'u32', seedLo: 'u32', seedHi: 'u32', low: 'i32', range: 'u32' });

/** Element i of the draw from Philox(counter = offset + i, key = seed), as in engine/random.ts. */
const transforms: Record<RandomAttrs['distribution'], string> = {
  uniform: 'ldexp(f32(w.x >> 8u), -24)',
  normal: 'box_muller(w.x, w.y)',
  // ⌊w·range / 2^32⌋ exactly (range = 2^32 arrives as 0 and gives w itself).
  randint: 'p.low + bitcast<i32>(select(mulhi(w.x, p.range), w.x, p.range == 0u))',
};

const random: Kernel<RandomAttrs> = (_inputs, [out], attrs) => {
  const view = out as View;
  const n = view.shape.reduce((a, b) => a * b, 1);
  const t = wgslType(view.dtype);
  if (attrs.distribution === 'randint' && t === 'f32' && Math.max(Math.abs(attrs.low!), Math.abs(attrs.high!)) > 2 ** 24) {
    // The sum low + u is formed in i32 and converted once; beyond 2^24 that conversion would round.
    throw new EngineError(`randint on WebGPU: float32 draws need |low|, |high| ≤ 2^24, got [${attrs.low}, ${attrs.high})`);
  }
  const split = (x: number): [number, number] => [x >>> 0, Math.floor(x / 2 ** 32) >>> 0];
  const [offsetLo, offsetHi] = split(attrs.offset);
  const [seedLo, seedHi] = split(attrs.seed);
  webgpu().queue.dispatch({
    key: `random:${attrs.distribution}:${t}`,
    code: () =>
      randomParams.wgsl() +
      bindings([], [['out', t]]) +
      PHILOX_WGSL +
      MAIN_1D +
      `
  if (i >= p.n) { return; }
  let lo = p.offsetLo + i;
  let hi = p.offsetHi + select(0u, 1u, lo < i);
  let w = philox(vec4u(lo, hi, 0u, 0u), vec2u(p.seedLo, p.seedHi));
  out[i] = ${t}(${transforms[attrs.distribution]});
}
`,
    reads: [],
    writes: storagesOf([view]),
    params: randomParams.pack({
      n,
      offsetLo,
      offsetHi,
      seedLo,
      seedHi,
      low: attrs.low ?? 0,
      range: ((attrs.high ?? 0) - (attrs.low ?? 0)) >>> 0,
    }),
    workgroups: grid(Math.ceil(n / WG)),
    cost: n * 40,
  });
};

export const creationKernels: Record<string, Kernel> = { full, random };
