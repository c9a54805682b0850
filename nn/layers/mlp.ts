import type { Tensor } from '../../engine/index.js';
import type { UnaryModule } from '../module.js';
import { Module } from '../module.js';
import { GELU, Identity } from './activation.js';
import { Dropout } from './dropout.js';
import { Linear } from './linear.js';

export interface MlpOptions {
  hiddenFeatures?: number;
  outFeatures?: number;
  /** Makes the activation (timm's `act_layer`); default exact GELU. LightningDiT passes GELU('tanh'). */
  actLayer?: () => UnaryModule;
  bias?: boolean;
  drop?: number;
}

/**
 * timm's `Mlp` (timm 1.0): fc1 → act → drop1 → norm (Identity) → fc2 → drop2, with timm's submodule names, so the
 * keys are `fc1.weight`, `fc1.bias`, `fc2.weight`, `fc2.bias`.
 */
export class Mlp extends Module {
  readonly fc1: Linear;
  readonly act: UnaryModule;
  readonly drop1: Dropout;
  readonly norm: Identity;
  readonly fc2: Linear;
  readonly drop2: Dropout;

  constructor(inFeatures: number, { hiddenFeatures, outFeatures, actLayer = () => new GELU(), bias = true, drop = 0 }: MlpOptions = {}) {
    super();
    const hidden = hiddenFeatures ?? inFeatures;
    this.fc1 = new Linear(inFeatures, hidden, { bias });
    this.act = actLayer();
    this.drop1 = new Dropout(drop);
    this.norm = new Identity();
    this.fc2 = new Linear(hidden, outFeatures ?? inFeatures, { bias });
    this.drop2 = new Dropout(drop);
  }

  forward(x: Tensor): Tensor {
    const h = this.norm.forward(this.drop1.forward(this.act.forward(this.fc1.forward(x))));
    return this.drop2.forward(this.fc2.forward(h));
  }
}
