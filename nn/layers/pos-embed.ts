import { type DType, type Tensor, fromArray } from '../../engine/index.js';
import { EngineError } from '../../engine/errors.js';

/**
 * The fixed 2-D sin-cos position table of MAE, as LightningDiT's `get_2d_sincos_pos_embed(embed_dim, grid_size)`:
 * [G², D] for a G×G grid of tokens in row-major order (n = row·G + col). Because the official grid comes from
 * meshgrid(w, h), the first D/2 channels encode the column and the last D/2 the row; each half is
 * [sin(p·ω_k) for k < D/4 ‖ cos(p·ω_k) for k < D/4] with ω_k = 10000^(−k/(D/4)). Computed in float64 (as numpy
 * does) and rounded once to `dtype` (default float32, as the official `.float()`).
 */
export function get2dSincosPosEmbed(embedDim: number, gridSize: number, { dtype = 'float32' as DType } = {}): Tensor {
  if (!Number.isInteger(embedDim) || embedDim <= 0 || embedDim % 4 !== 0) throw new EngineError(`get2dSincosPosEmbed: embedDim must be a positive multiple of 4, got ${embedDim}`);
  if (!Number.isInteger(gridSize) || gridSize <= 0) throw new EngineError(`get2dSincosPosEmbed: gridSize must be a positive integer, got ${gridSize}`);
  const quarter = embedDim / 4;
  const omega = Array.from({ length: quarter }, (_, k) => 1 / 10000 ** (k / quarter));
  const out = new Float64Array(gridSize * gridSize * embedDim);
  for (let row = 0; row < gridSize; row++) {
    for (let col = 0; col < gridSize; col++) {
      const base = (row * gridSize + col) * embedDim;
      [col, row].forEach((p, half) => {
        omega.forEach((w, k) => {
          out[base + half * 2 * quarter + k] = Math.sin(p * w);
          out[base + half * 2 * quarter + quarter + k] = Math.cos(p * w);
        });
      });
    }
  }
  return fromArray(out, [gridSize * gridSize, embedDim], { dtype });
}
