import { type Tensor, cat, fromArray, matmul, narrow, permute, reshape, transpose } from '../../engine/index.js';
import { EngineError, fmtShape } from '../../engine/errors.js';

/*
 * Bicubic resampling as PyTorch's `F.interpolate(mode='bicubic', align_corners=False)`, with and without
 * antialiasing. Resampling is separable and linear, so each is a pair of fixed [out, in] matrices applied by
 * matmul: y = R_h · x · R_wᵀ over the last two dims, differentiable in x like any matmul.
 */

/** Keys' cubic convolution kernel with parameter a: 1 at 0, 0 at the other integers, support [−2, 2]. */
function cubicKernel(x: number, a: number): number {
  const t = Math.abs(x);
  if (t < 1) return ((a + 2) * t - (a + 3)) * t * t + 1;
  if (t < 2) return ((a * t - 5 * a) * t + 8 * a) * t - 4 * a;
  return 0;
}

/**
 * Without antialiasing (ATen `upsample_bicubic2d`): output d reads the source position s = (d + ½)·in/out − ½
 * (not clamped), takes the four pixels ⌊s⌋ − 1 … ⌊s⌋ + 2 (indices clamped to the edge, so the edge pixel repeats)
 * with Keys' kernel at a = −0.75.
 */
function plainBicubicWeights(inSize: number, outSize: number): Float64Array {
  const weights = new Float64Array(outSize * inSize);
  const scale = inSize / outSize;
  for (let d = 0; d < outSize; d++) {
    const source = scale * (d + 0.5) - 0.5;
    const base = Math.floor(source);
    const t = source - base;
    for (let k = -1; k <= 2; k++) {
      const index = Math.min(Math.max(base + k, 0), inSize - 1);
      weights[d * inSize + index] += cubicKernel(t - k, -0.75);
    }
  }
  return weights;
}

/**
 * With antialiasing (ATen `_upsample_bicubic2d_aa`, the same filter as Pillow's BICUBIC): Keys' kernel at a = −0.5,
 * stretched by the scale when shrinking (support 2·scale), centred on (d + ½)·scale, evaluated at pixel centres
 * inside the image only, and normalised to sum to 1. Enlarging uses the unstretched kernel, also normalised.
 */
function antialiasedBicubicWeights(inSize: number, outSize: number): Float64Array {
  const weights = new Float64Array(outSize * inSize);
  const scale = inSize / outSize;
  const stretch = Math.max(scale, 1);
  const support = 2 * stretch;
  // ATen sizes its weight buffer for ⌈support⌉·2 + 1 taps and clips the window to it.
  const maxTaps = Math.ceil(support) * 2 + 1;
  for (let d = 0; d < outSize; d++) {
    const centre = scale * (d + 0.5);
    // C++ casts to int64 truncate toward zero.
    const first = Math.max(Math.trunc(centre - support + 0.5), 0);
    const taps = Math.min(Math.max(Math.min(Math.trunc(centre + support + 0.5), inSize) - first, 0), maxTaps);
    const row = new Float64Array(taps);
    let total = 0;
    for (let j = 0; j < taps; j++) {
      row[j] = cubicKernel((j + first - centre + 0.5) / stretch, -0.5);
      total += row[j]!;
    }
    for (let j = 0; j < taps; j++) weights[d * inSize + first + j] = total !== 0 ? row[j]! / total : row[j]!;
  }
  return weights;
}

/** The [outSize, inSize] matrix of 1-D bicubic resampling (PyTorch's, align_corners=False). */
export function bicubicMatrix(inSize: number, outSize: number, { antialias = false } = {}): Float64Array {
  if (!Number.isInteger(inSize) || !Number.isInteger(outSize) || inSize < 1 || outSize < 1) {
    throw new EngineError(`bicubicMatrix: sizes must be positive integers, got ${inSize} → ${outSize}`);
  }
  return antialias ? antialiasedBicubicWeights(inSize, outSize) : plainBicubicWeights(inSize, outSize);
}

/** `F.interpolate(x, size, mode='bicubic', align_corners=False, antialias)` for x [..., H, W]. */
export function interpolateBicubic(x: Tensor, size: readonly [number, number], { antialias = false } = {}): Tensor {
  if (x.rank < 2) throw new EngineError(`interpolateBicubic: input must have at least 2 dims, got ${fmtShape(x.shape)}`);
  const [inH, inW] = x.shape.slice(-2) as [number, number];
  const matrix = (from: number, to: number) => fromArray(bicubicMatrix(from, to, { antialias }), [to, from], { dtype: x.dtype, backend: x.backend });
  return matmul(matmul(matrix(inH, size[0]), x), transpose(matrix(inW, size[1])));
}

/**
 * timm's `resample_abs_pos_embed`: the position table [1, prefix + h₀·w₀, D] with its grid part resized to
 * newSize by bicubic interpolation (antialiased, timm's default), the prefix (class token) rows kept. Returns the
 * table unchanged when the token count already fits a square newSize, as timm does.
 */
export function resampleAbsPosEmbed(
  posEmbed: Tensor,
  newSize: readonly [number, number],
  oldSize: readonly [number, number],
  numPrefixTokens: number,
  { antialias = true } = {},
): Tensor {
  const [one, tokens, dim] = posEmbed.shape as [number, number, number];
  if (posEmbed.rank !== 3 || one !== 1 || tokens !== numPrefixTokens + oldSize[0] * oldSize[1]) {
    throw new EngineError(`resampleAbsPosEmbed: table ${fmtShape(posEmbed.shape)} does not hold ${numPrefixTokens} prefix tokens and a ${oldSize.join('×')} grid`);
  }
  if (numPrefixTokens + newSize[0] * newSize[1] === tokens && newSize[0] === newSize[1]) return posEmbed;
  const grid = permute(reshape(narrow(posEmbed, 1, numPrefixTokens, tokens - numPrefixTokens), [1, oldSize[0], oldSize[1], dim]), [0, 3, 1, 2]);
  const resized = reshape(permute(interpolateBicubic(grid, newSize, { antialias }), [0, 2, 3, 1]), [1, newSize[0] * newSize[1], dim]);
  return numPrefixTokens > 0 ? cat([narrow(posEmbed, 1, 0, numPrefixTokens), resized], 1) : resized;
}
