import { EngineError } from '../engine/errors.js';

/**
 * Peak signal-to-noise ratio of each image, as LightningDiT's `evaluate_tokenizer.py` computes it on the saved
 * 8-bit PNGs: 20·log10(255 / √MSE), the MSE taken over one image's bytes (all channels). Identical images give
 * +∞. The reported figure is the mean over images (`meanOf`), not the PSNR of the mean MSE.
 */
export function psnrPerImage(reference: Uint8Array, reconstruction: Uint8Array, count: number): Float64Array {
  if (reference.length !== reconstruction.length || count <= 0 || reference.length % count !== 0) {
    throw new EngineError(`psnrPerImage: ${reference.length} and ${reconstruction.length} bytes do not split into ${count} equal images`);
  }
  const size = reference.length / count;
  const out = new Float64Array(count);
  for (let n = 0; n < count; n++) {
    let squared = 0;
    for (let i = n * size; i < (n + 1) * size; i++) squared += (reference[i]! - reconstruction[i]!) ** 2;
    out[n] = 20 * Math.log10(255 / Math.sqrt(squared / size));
  }
  return out;
}

export function meanOf(values: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i]!;
  return sum / values.length;
}
