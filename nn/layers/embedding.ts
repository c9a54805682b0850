import { type Tensor, embedding, zeros } from '../../engine/index.js';
import { normal_ } from '../init.js';
import { Module } from '../module.js';
import { parameter } from '../parameter.js';

/** A lookup table (`nn.Embedding`; key `weight` [num, dim], initialised N(0, 1) as PyTorch does). Indices are int32. */
export class Embedding extends Module {
  readonly weight: Tensor;

  constructor(
    readonly numEmbeddings: number,
    readonly embeddingDim: number,
  ) {
    super();
    this.weight = normal_(parameter(zeros([numEmbeddings, embeddingDim])));
  }

  forward(indices: Tensor): Tensor {
    return embedding(indices, this.weight);
  }
}
