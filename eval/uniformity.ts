import type { Generator } from '../engine/index.js';
import { EngineError } from '../engine/errors.js';
import { gaussianKde } from './kde.js';
import type { RasterImage } from './png.js';
import { scatterPlot } from './plot.js';
import { permutation, uniforms } from './random.js';
import { type TsneOptions, tsne } from './tsne.js';
import type { LatentSet } from '../train/data/latents.js';

/*
 * How evenly a latent space is used (the paper's Table 6), as LightningDiT's `tools/latent_vis.py` measures it:
 * latent vectors drawn one per image at a random position, embedded in 2-D by t-SNE, the density at each embedded
 * point estimated by a Gaussian KDE (Scott's rule), and the spread of those densities summarised. A more uniform
 * latent distribution gives a lower coefficient of variation and Gini coefficient and a higher entropy.
 */

export interface UniformityMetrics {
  /** Population standard deviation of the densities. */
  densityStd: number;
  /** densityStd / mean density. */
  densityCv: number;
  /** −Σ pᵢ·log₂(pᵢ + 10⁻¹⁰) / log₂ N with p = d / Σd: 1 for equal densities. */
  normalizedEntropy: number;
  /** Σᵢ (2i − N − 1)·d₍ᵢ₎ / (N·Σd) over the densities sorted ascending (i = 1…N): 0 for equal densities. */
  giniCoefficient: number;
}

/** The summary statistics of `latent_vis.py`'s `calculate_uniformity_metrics`, for positive densities. */
export function densityUniformity(density: ArrayLike<number>): UniformityMetrics {
  const n = density.length;
  if (n < 2) throw new EngineError(`densityUniformity: needs at least 2 densities, got ${n}`);
  const values = Float64Array.from(density);
  const total = values.reduce((a, b) => a + b, 0);
  const mean = total / n;
  const densityStd = Math.sqrt(values.reduce((s, d) => s + (d - mean) ** 2, 0) / n);
  let entropy = 0;
  for (const d of values) entropy -= (d / total) * Math.log2(d / total + 1e-10);
  values.sort();
  let weighted = 0;
  values.forEach((d, i) => (weighted += (2 * (i + 1) - n - 1) * d));
  return { densityStd, densityCv: densityStd / mean, normalizedEntropy: entropy / Math.log2(n), giniCoefficient: weighted / (n * total) };
}

/** What sampling needs of a latent set (train/data's `LatentSet`): latents [C, h, w], their mirror images, statistics. */
export type LatentSource = Pick<LatentSet, 'count' | 'latentShape' | 'flip' | 'mean' | 'std' | 'read'>;

/**
 * `latent_vis.py`'s `sample_latents`: `count` distinct images; for each, the flipped latent with probability ½ and
 * one uniformly random spatial position; its C-vector standardised with the set's per-channel mean and std.
 * Returns count×C, row-major.
 */
export function sampleLatentVectors(source: LatentSource, count: number, generator?: Generator): Float64Array {
  const [c, h, w] = source.latentShape as [number, number, number];
  if (count > source.count) throw new EngineError(`sampleLatentVectors: ${count} distinct images asked of ${source.count}`);
  if (!source.flip) throw new EngineError('sampleLatentVectors: the latent set has no flipped latents (latents_flip)');
  if (source.mean.length !== c || source.std.length !== c) throw new EngineError(`sampleLatentVectors: statistics for ${source.mean.length} channels, the latents have ${c}`);
  const images = permutation(source.count, generator).subarray(0, count);
  const draws = uniforms(3 * count, generator);
  const vectors = new Float64Array(count * c);
  for (let k = 0; k < count; k++) {
    const flipped = !(draws[3 * k]! > 0.5); // the original latent when u > 0.5, as latent_vis.py
    const y = Math.floor(draws[3 * k + 1]! * h);
    const x = Math.floor(draws[3 * k + 2]! * w);
    const { latent } = source.read(images[k]!, flipped);
    for (let ch = 0; ch < c; ch++) vectors[k * c + ch] = (latent[(ch * h + y) * w + x]! - source.mean[ch]!) / source.std[ch]!;
  }
  return vectors;
}

export interface UniformityResult {
  metrics: UniformityMetrics;
  /** N×2 t-SNE embedding. */
  embedding: Float64Array;
  /** KDE density at each embedded point. */
  density: Float64Array;
  /** The embedding coloured by density (viridis), like latent_vis.py's figure. */
  plot: RasterImage;
}

/** t-SNE, KDE and the uniformity statistics of `count` vectors of dimension `dim` (row-major). */
export function latentUniformity(vectors: ArrayLike<number>, count: number, dim: number, tsneOptions: TsneOptions = {}): UniformityResult {
  const { embedding } = tsne(vectors, count, dim, tsneOptions);
  const density = gaussianKde(embedding, count, 2).evaluate(embedding, count);
  return { metrics: densityUniformity(density), embedding, density, plot: scatterPlot(embedding, density) };
}
