import { type Tensor, groupNorm, layerNorm, ones, rmsNorm, zeros } from '../../engine/index.js';
import { EngineError } from '../../engine/errors.js';
import { Module } from '../module.js';
import { parameter } from '../parameter.js';

/*
 * Normalisation layers. Affine weights start at 1 and biases at 0, as in PyTorch; keys `weight`, `bias`.
 */

/** `nn.GroupNorm(numGroups, numChannels, eps, affine)` over x [N, C, ...]. */
export class GroupNorm extends Module {
  readonly weight: Tensor | null;
  readonly bias: Tensor | null;
  readonly eps: number;

  constructor(
    readonly numGroups: number,
    readonly numChannels: number,
    { eps = 1e-5, affine = true }: { eps?: number; affine?: boolean } = {},
  ) {
    super();
    if (numChannels % numGroups !== 0) throw new EngineError(`GroupNorm: ${numChannels} channels do not split into ${numGroups} groups`);
    this.eps = eps;
    this.weight = affine ? parameter(ones([numChannels])) : null;
    this.bias = affine ? parameter(zeros([numChannels])) : null;
  }

  forward(x: Tensor): Tensor {
    return groupNorm(x, this.numGroups, this.weight ?? undefined, this.bias ?? undefined, this.eps);
  }
}

const asShape = (s: number | readonly number[]): number[] => (typeof s === 'number' ? [s] : [...s]);

/** `nn.LayerNorm(normalizedShape, eps, elementwise_affine, bias)` over the trailing dims. */
export class LayerNorm extends Module {
  readonly normalizedShape: number[];
  readonly weight: Tensor | null;
  readonly bias: Tensor | null;

  constructor(
    normalizedShape: number | readonly number[],
    readonly options: { eps?: number; elementwiseAffine?: boolean; bias?: boolean } = {},
  ) {
    super();
    const { elementwiseAffine = true, bias = true } = options;
    this.normalizedShape = asShape(normalizedShape);
    this.weight = elementwiseAffine ? parameter(ones(this.normalizedShape)) : null;
    this.bias = elementwiseAffine && bias ? parameter(zeros(this.normalizedShape)) : null;
  }

  forward(x: Tensor): Tensor {
    return layerNorm(x, this.normalizedShape, this.weight ?? undefined, this.bias ?? undefined, this.options.eps ?? 1e-5);
  }
}

/**
 * RMSNorm as LightningDiT's `models/rmsnorm.py` (LLaMA's): x / √(mean(x²) + eps) · weight, with a learnable weight
 * (init 1). The default eps is that file's 1e-6, not `torch.nn.RMSNorm`'s machine epsilon.
 */
export class RMSNorm extends Module {
  readonly normalizedShape: number[];
  readonly weight: Tensor | null;

  constructor(
    normalizedShape: number | readonly number[],
    readonly options: { eps?: number; elementwiseAffine?: boolean } = {},
  ) {
    super();
    this.normalizedShape = asShape(normalizedShape);
    this.weight = (options.elementwiseAffine ?? true) ? parameter(ones(this.normalizedShape)) : null;
  }

  forward(x: Tensor): Tensor {
    return rmsNorm(x, this.normalizedShape, this.weight ?? undefined, this.options.eps ?? 1e-6);
  }
}
