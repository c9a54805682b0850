import { type Tensor, linear, zeros } from '../../engine/index.js';
import { defaultLayerInit_ } from '../init.js';
import { Module } from '../module.js';
import { parameter } from '../parameter.js';

export interface LinearOptions {
  bias?: boolean;
}

/** y = x·Wᵀ + b, with W [out, in] (`nn.Linear`; keys `weight`, `bias`), initialised as PyTorch does. */
export class Linear extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;

  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    { bias = true }: LinearOptions = {},
  ) {
    super();
    this.weight = parameter(zeros([outFeatures, inFeatures]));
    this.bias = bias ? parameter(zeros([outFeatures])) : null;
    defaultLayerInit_(this.weight, this.bias);
  }

  forward(x: Tensor): Tensor {
    return linear(x, this.weight, this.bias ?? undefined);
  }
}
