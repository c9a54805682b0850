import { type Conv2dOptions as ConvGeometry, type Tensor, conv2d, zeros } from '../../engine/index.js';
import { EngineError } from '../../engine/errors.js';
import { defaultLayerInit_ } from '../init.js';
import { Module } from '../module.js';
import { parameter } from '../parameter.js';

type Pair = number | readonly [number, number];

/** The conv2d op's geometry (stride, padding, dilation, groups), plus whether there is a bias. */
export interface Conv2dLayerOptions extends ConvGeometry {
  bias?: boolean;
}

const pair = (v: Pair): [number, number] => (typeof v === 'number' ? [v, v] : [v[0], v[1]]);

/** 2-D convolution (`nn.Conv2d`; keys `weight` [out, in/groups, kh, kw] and `bias`), initialised as PyTorch does. */
export class Conv2d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  private readonly geometry: ConvGeometry;

  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    kernelSize: Pair,
    { bias = true, ...geometry }: Conv2dLayerOptions = {},
  ) {
    super();
    const groups = geometry.groups ?? 1;
    if (inChannels % groups !== 0 || outChannels % groups !== 0) {
      throw new EngineError(`Conv2d: in (${inChannels}) and out (${outChannels}) channels must both be divisible by groups (${groups})`);
    }
    const [kh, kw] = pair(kernelSize);
    this.weight = parameter(zeros([outChannels, inChannels / groups, kh, kw]));
    this.bias = bias ? parameter(zeros([outChannels])) : null;
    this.geometry = geometry;
    defaultLayerInit_(this.weight, this.bias);
  }

  forward(x: Tensor): Tensor {
    return conv2d(x, this.weight, this.bias ?? undefined, this.geometry);
  }
}
