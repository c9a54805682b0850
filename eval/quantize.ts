import { type Tensor, add, clamp, fromArray, mul } from '../engine/index.js';
import { EngineError, fmtShape } from '../engine/errors.js';

/*
 * Images as the official evaluation stores them: an image x in [−1, 1] becomes bytes by clamp(127.5·x + 128,
 * 0, 255) and truncation (the conversion before every saved PNG; 128 rather than 127.5 makes the truncation round
 * to nearest). Metrics that the official code computes on saved PNGs (PSNR, FID, IS, precision/recall) see the
 * images only through this conversion.
 */

/** Bytes of images [N, C, H, W] in [−1, 1], same layout. */
export async function quantizeImages(images: Tensor): Promise<Uint8Array> {
  if (images.rank !== 4) throw new EngineError(`quantizeImages: needs images [N, C, H, W], got ${fmtShape(images.shape)}`);
  const scaled = clamp(add(mul(images, 127.5), 128), 0, 255);
  try {
    return Uint8Array.from(await scaled.toArray(), Math.trunc);
  } finally {
    scaled.dispose();
  }
}

/** Bytes back to a float32 image tensor in [−1, 1], as torchvision's ToTensor (u/255) then 2x − 1 give them. */
export function dequantizeImages(bytes: Uint8Array, shape: readonly [number, number, number, number]): Tensor {
  const values = new Float32Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) values[i] = (bytes[i]! / 255) * 2 - 1;
  return fromArray(values, shape);
}
