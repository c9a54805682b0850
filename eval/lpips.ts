import { type Tensor, noGrad, scope } from '../engine/index.js';
import { LPIPS } from '../models/vavae/losses/lpips.js';
import { loadWeights } from './weights.js';

/*
 * LPIPS as a reconstruction metric: the VGG16 LPIPS v0.1 that the VA-VAE loss uses (models/vavae/losses/lpips.ts,
 * taming's key names), applied to [−1, 1] images. LightningDiT's tokenizer evaluation feeds it the raw decoder
 * output (not clamped, not quantised) and averages over images.
 */

/**
 * A new LPIPS with weights from a safetensors file holding torchvision's VGG16 features under
 * `net.slice<k>.<i>.*` and taming's `lin<k>.model.1.weight`. The input scaling constants (`scaling_layer.*`) may
 * be absent: they are fixed numbers that the module already holds.
 */
export async function loadLpips(path: string, model = new LPIPS()): Promise<LPIPS> {
  return loadWeights(model, path, (key) => key.startsWith('scaling_layer.'));
}

/** LPIPS distance of each image pair [N, 3, H, W] (H, W ≥ 16 for VGG's four poolings). */
export async function lpipsPerImage(model: LPIPS, images: Tensor, reconstructions: Tensor): Promise<Float64Array> {
  const distances = noGrad(() => scope(() => model.forward(reconstructions, images).reshape([-1])));
  try {
    return Float64Array.from(await distances.toArray());
  } finally {
    distances.dispose();
  }
}
