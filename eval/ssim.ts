import { type Tensor, add, cat, clamp, conv2d, div, fromArray, mean, mul, sub } from '../engine/index.js';
import { EngineError, fmtShape } from '../engine/errors.js';

/*
 * Structural similarity as torchmetrics' `StructuralSimilarityIndexMeasure` computes it with its defaults
 * (Gaussian window, σ = 1.5, k1 = 0.01, k2 = 0.03), which LightningDiT's tokenizer evaluation calls with
 * data_range = (−1, 1). Per image and channel, with Gaussian-weighted local means μ, variances σ² and covariance:
 *   SSIM = (2·μx·μy + c1)(2·σxy + c2) / ((μx² + μy² + c1)(σx² + σy² + c2)),  c1 = (k1·L)², c2 = (k2·L)²,
 * averaged over the positions and channels of the image. torchmetrics reflect-pads by half the window, convolves,
 * then crops the same margin away: the positions that remain are exactly those whose window lies inside the
 * image, so an unpadded ("valid") convolution gives the same numbers.
 */

export interface SsimOptions {
  /** The value range L: a number, or [min, max] (then both images are first clamped to it). Default [−1, 1]. */
  dataRange?: number | readonly [number, number];
  sigma?: number;
  k1?: number;
  k2?: number;
}

/** torchmetrics' window for σ: size 2·⌊3.5σ + 0.5⌋ + 1 (11 for σ = 1.5), weights e^(−x²/2σ²) normalised, outer product. */
function gaussianWindow(sigma: number, channels: number, like: Tensor): Tensor {
  const size = 2 * Math.floor(3.5 * sigma + 0.5) + 1;
  const half = (size - 1) / 2;
  const taps = Array.from({ length: size }, (_, i) => Math.exp(-(((i - half) / sigma) ** 2) / 2));
  const total = taps.reduce((a, b) => a + b, 0);
  const weights = new Float64Array(channels * size * size);
  for (let c = 0; c < channels; c++) {
    for (let i = 0; i < size; i++) {
      for (let j = 0; j < size; j++) weights[(c * size + i) * size + j] = (taps[i]! / total) * (taps[j]! / total);
    }
  }
  return fromArray(weights, [channels, 1, size, size], { dtype: like.dtype, backend: like.backend });
}

/** SSIM of each image pair, [N], for images [N, C, H, W] no smaller than the window (11×11 by default). */
export function ssim(preds: Tensor, target: Tensor, { dataRange = [-1, 1], sigma = 1.5, k1 = 0.01, k2 = 0.03 }: SsimOptions = {}): Tensor {
  if (preds.rank !== 4 || preds.shape.join() !== target.shape.join()) {
    throw new EngineError(`ssim: needs two image batches [N, C, H, W] of one shape, got ${fmtShape(preds.shape)} and ${fmtShape(target.shape)}`);
  }
  const [n, channels, height, width] = preds.shape as [number, number, number, number];
  const window = gaussianWindow(sigma, channels, preds);
  const size = window.shape[2]!;
  if (height < size || width < size) throw new EngineError(`ssim: images ${height}×${width} are smaller than the ${size}×${size} window`);

  let x = preds;
  let y = target;
  let range: number;
  if (typeof dataRange === 'number') {
    range = dataRange;
  } else {
    x = clamp(preds, dataRange[0], dataRange[1]);
    y = clamp(target, dataRange[0], dataRange[1]);
    range = dataRange[1] - dataRange[0];
  }
  const c1 = (k1 * range) ** 2;
  const c2 = (k2 * range) ** 2;

  // One depthwise convolution gives all five local moments.
  const moments = conv2d(cat([x, y, mul(x, x), mul(y, y), mul(x, y)], 0), window, undefined, { groups: channels });
  const [muX, muY, xx, yy, xy] = [0, 1, 2, 3, 4].map((k) => moments.narrow(0, k * n, n));
  const muXX = mul(muX!, muX!);
  const muYY = mul(muY!, muY!);
  const muXY = mul(muX!, muY!);
  // torchmetrics clamps the variances at 0 (rounding can make them slightly negative); the covariance is not clamped.
  const varX = clamp(sub(xx!, muXX), 0);
  const varY = clamp(sub(yy!, muYY), 0);
  const covXY = sub(xy!, muXY);
  const numerator = mul(add(mul(muXY, 2), c1), add(mul(covXY, 2), c2));
  const denominator = mul(add(add(muXX, muYY), c1), add(add(varX, varY), c2));
  return mean(div(numerator, denominator), [1, 2, 3]);
}
