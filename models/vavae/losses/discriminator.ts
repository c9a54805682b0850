import { type Generator, type Tensor, leakyRelu } from '../../../engine/index.js';
import { BatchNorm2d, Conv2d, Module, init } from '../../../nn/index.js';

/** `nn.LeakyReLU(0.2)` as a layer of the discriminator's Sequential (no parameters, so no keys). */
class LeakyReLU extends Module {
  constructor(readonly negativeSlope: number) {
    super();
  }
  forward(x: Tensor): Tensor {
    return leakyRelu(x, this.negativeSlope);
  }
}

type Layer = Conv2d | BatchNorm2d | LeakyReLU;

/** `nn.Sequential` whose children are named by position, like the official `main` (keys `main.0.weight`, `main.3.running_mean`, ...). */
class Layers extends Module {
  constructor(layers: readonly Layer[]) {
    super();
    layers.forEach((layer, i) => this.registerModule(String(i), layer));
  }

  forward(x: Tensor): Tensor {
    let h = x;
    for (const [, layer] of this.namedChildren()) h = (layer as Layer).forward(h);
    return h;
  }
}

export interface DiscriminatorOptions {
  inputChannels?: number;
  /** Channels of the first layer (ndf). */
  baseChannels?: number;
  numLayers?: number;
  /** Generator for the official `weights_init` draws (default: the engine's seeded generator). */
  generator?: Generator;
}

/**
 * The PatchGAN discriminator of pix2pix as in taming-transformers (`NLayerDiscriminator`, BatchNorm, no ActNorm):
 * Conv4×4 s2 p1 (in → ndf, bias) → LeakyReLU 0.2, then for n = 1 … numLayers − 1 Conv4×4 s2 p1 (no bias) →
 * BatchNorm → LeakyReLU to ndf·min(2ⁿ, 8) channels, then Conv4×4 s1 p1 (no bias) → BatchNorm → LeakyReLU to
 * ndf·min(2^numLayers, 8), and a final
 * Conv4×4 s1 p1 to one logit channel (bias). A 256² image gives 30×30 patch logits.
 *
 * Initialised by the official `weights_init`: conv weights N(0, 0.02), BatchNorm weights N(1, 0.02) and biases 0;
 * conv biases keep PyTorch's default initialisation.
 */
export class NLayerDiscriminator extends Module {
  readonly main: Layers;

  constructor({ inputChannels = 3, baseChannels = 64, numLayers = 3, generator }: DiscriminatorOptions = {}) {
    super();
    const conv = (from: number, to: number, stride: number, bias: boolean) => new Conv2d(from, to, 4, { stride, padding: 1, bias });
    const layers: Layer[] = [conv(inputChannels, baseChannels, 2, true), new LeakyReLU(0.2)];
    let channels = baseChannels;
    const normalised = (n: number, stride: number) => {
      const next = baseChannels * Math.min(2 ** n, 8);
      layers.push(conv(channels, next, stride, false), new BatchNorm2d(next), new LeakyReLU(0.2));
      channels = next;
    };
    for (let n = 1; n < numLayers; n++) normalised(n, 2);
    normalised(numLayers, 1);
    layers.push(conv(channels, 1, 1, true));
    this.main = new Layers(layers);
    for (const layer of layers) {
      if (layer instanceof Conv2d) init.normal_(layer.weight, 0, 0.02, { generator });
      if (layer instanceof BatchNorm2d) {
        init.normal_(layer.weight!, 1, 0.02, { generator });
        init.zeros_(layer.bias!);
      }
    }
  }

  /** Patch logits [B, 1, h, w]. */
  forward(x: Tensor): Tensor {
    return this.main.forward(x);
  }
}
