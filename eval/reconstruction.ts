import { type Tensor, noGrad, scope } from '../engine/index.js';
import { EngineError, fmtShape } from '../engine/errors.js';
import type { LPIPS } from '../models/vavae/losses/lpips.js';
import { type FeatureExtractor, FeatureCollector } from './features.js';
import { frechetDistance, gaussianStatistics } from './frechet.js';
import { lpipsPerImage } from './lpips.js';
import { meanOf, psnrPerImage } from './psnr.js';
import { dequantizeImages, quantizeImages } from './quantize.js';
import { ssim } from './ssim.js';

/*
 * Reconstruction quality of an autoencoder, as LightningDiT's `evaluate_tokenizer.py` measures it: every image
 * goes through the round trip (encode, sample the posterior, decode) and is compared with the original by
 *   PSNR  on the 8-bit images (per image, then averaged),
 *   SSIM  on the raw decoder output, clamped to [−1, 1] (torchmetrics' data_range = (−1, 1)),
 *   LPIPS on the raw decoder output (VGG, when weights are given),
 *   rFID  the Fréchet distance between the features of the 8-bit originals and reconstructions (when an extractor
 *         is given).
 */

export interface ReconstructionInputs {
  /** Batches of images [B, C, H, W] in [−1, 1]. */
  images: Iterable<Tensor> | AsyncIterable<Tensor>;
  /** The autoencoder's round trip, returning the decoder output for a batch (same shape); run without autograd. */
  reconstruct: (images: Tensor) => Tensor;
  lpips?: LPIPS;
  extractor?: FeatureExtractor;
}

export interface ReconstructionReport {
  count: number;
  psnr: number;
  ssim: number;
  lpips?: number;
  rfid?: number;
}

export async function evaluateReconstruction({ images, reconstruct, lpips, extractor }: ReconstructionInputs): Promise<ReconstructionReport> {
  const psnrs: number[] = [];
  const ssims: number[] = [];
  const distances: number[] = [];
  const originals = extractor && new FeatureCollector(extractor);
  const reconstructions = extractor && new FeatureCollector(extractor);
  for await (const batch of images) {
    const shape = batch.shape as [number, number, number, number];
    const decoded = noGrad(() => scope(() => reconstruct(batch)));
    if (decoded.shape.join() !== batch.shape.join()) throw new EngineError(`evaluateReconstruction: reconstructions of shape ${fmtShape(decoded.shape)} for images ${fmtShape(batch.shape)}`);
    const [bytesIn, bytesOut] = await Promise.all([quantizeImages(batch), quantizeImages(decoded)]);
    psnrs.push(...psnrPerImage(bytesIn, bytesOut, shape[0]));
    const batchSsim = noGrad(() => scope(() => ssim(decoded, batch)));
    ssims.push(...(await batchSsim.toArray()));
    batchSsim.dispose();
    if (lpips) distances.push(...(await lpipsPerImage(lpips, batch, decoded)));
    if (originals && reconstructions) {
      // rFID compares what was saved as PNG, on both sides.
      for (const [collector, bytes] of [[originals, bytesIn], [reconstructions, bytesOut]] as const) {
        const saved = dequantizeImages(bytes, shape);
        await collector.add(saved);
        saved.dispose();
      }
    }
    if (decoded !== batch) decoded.dispose();
  }
  const report: ReconstructionReport = { count: psnrs.length, psnr: meanOf(psnrs), ssim: meanOf(ssims) };
  if (lpips) report.lpips = meanOf(distances);
  if (originals && reconstructions) {
    report.rfid = frechetDistance(gaussianStatistics(originals.result().features), gaussianStatistics(reconstructions.result().features));
  }
  return report;
}
