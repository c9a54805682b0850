import { type Tensor, add, amax, div, fromArray, mean, mul, narrow, relu, reshape, sqrt, sub, sum } from '../../../engine/index.js';
import { EngineError, fmtShape } from '../../../engine/errors.js';
import { Conv2d, Dropout, Module, Sequential, buffer } from '../../../nn/index.js';

/*
 * LPIPS v0.1 with VGG16 as taming-transformers builds it (`taming/modules/losses/lpips.py`), with its keys:
 * `scaling_layer.shift/scale`, `net.slice<k>.<index>.weight/bias` (torchvision's `vgg16().features` indices),
 * `lin<k>.model.1.weight`. The weights are not part of this repository: load torchvision's VGG16 features and
 * taming's `vgg.pth` into it (converted to safetensors) with `loadStateDict`.
 */

/** 2×2 max pooling with stride 2, dropping an odd last row or column (`nn.MaxPool2d(2, 2)`). */
class MaxPool2x2 extends Module {
  forward(x: Tensor): Tensor {
    const [n, c, h, w] = x.shape as [number, number, number, number];
    const oh = Math.floor(h / 2);
    const ow = Math.floor(w / 2);
    if (oh === 0 || ow === 0) throw new EngineError(`LPIPS: a ${h}×${w} feature map is too small for 2×2 max pooling`);
    const even = narrow(narrow(x, 2, 0, 2 * oh), 3, 0, 2 * ow);
    // Ties share the gradient (amax); max_pool2d gives it to one element. They only differ where the four values
    // tie, which after a ReLU means four zeros, whose gradient the ReLU below them stops anyway.
    return amax(reshape(even, [n, c, oh, 2, ow, 2]), [3, 5]);
  }
}

class ReLU extends Module {
  forward(x: Tensor): Tensor {
    return relu(x);
  }
}

type VggLayer = Conv2d | ReLU | MaxPool2x2;

/** A run of `vgg16().features` layers that keeps their original indices as keys (taming's `slice<k>.add_module(str(i), ...)`). */
class VggSlice extends Module {
  constructor(layers: readonly [number, VggLayer][]) {
    super();
    for (const [index, layer] of layers) this.registerModule(String(index), layer);
  }

  forward(x: Tensor): Tensor {
    let h = x;
    // Integer-like keys enumerate in ascending order, which is the layers' order.
    for (const [, layer] of this.namedChildren()) h = (layer as VggLayer).forward(h);
    return h;
  }
}

/** VGG16's convolutional part, returning relu1_2, relu2_2, relu3_3, relu4_3 and relu5_3. */
class Vgg16Features extends Module {
  readonly slice1: VggSlice;
  readonly slice2: VggSlice;
  readonly slice3: VggSlice;
  readonly slice4: VggSlice;
  readonly slice5: VggSlice;

  constructor() {
    super();
    // torchvision's configuration D: 'M' is a max pool.
    const plan: (number | 'M')[] = [64, 64, 'M', 128, 128, 'M', 256, 256, 256, 'M', 512, 512, 512, 'M', 512, 512, 512];
    const layers: [number, VggLayer][] = [];
    let channels = 3;
    for (const entry of plan) {
      if (entry === 'M') {
        layers.push([layers.length, new MaxPool2x2()]);
      } else {
        layers.push([layers.length, new Conv2d(channels, entry, 3, { padding: 1 })], [layers.length + 1, new ReLU()]);
        channels = entry;
      }
    }
    // Slices end after ReLUs 3, 8, 15, 22 and 29.
    const cut = (from: number, to: number) => new VggSlice(layers.slice(from, to + 1));
    this.slice1 = cut(0, 3);
    this.slice2 = cut(4, 8);
    this.slice3 = cut(9, 15);
    this.slice4 = cut(16, 22);
    this.slice5 = cut(23, 29);
  }

  forward(x: Tensor): Tensor[] {
    const outs: Tensor[] = [];
    let h = x;
    for (const slice of [this.slice1, this.slice2, this.slice3, this.slice4, this.slice5]) outs.push((h = slice.forward(h)));
    return outs;
  }
}

/** The learned per-layer channel weighting: Dropout then a 1×1 conv to one channel without bias (key `model.1.weight`). */
class NetLinLayer extends Module {
  readonly model: Sequential;

  constructor(channels: number) {
    super();
    this.model = new Sequential(new Dropout(0.5), new Conv2d(channels, 1, 1, { bias: false }));
  }

  /** The 1×1 conv alone: LPIPS is used as a frozen, deterministic metric, so its dropout never acts (see `LPIPS`). */
  forward(x: Tensor): Tensor {
    return (this.model.at(1) as Conv2d).forward(x);
  }
}

/** (x − shift) / scale per RGB channel, mapping [−1, 1] images to VGG's ImageNet-normalised input range. */
class ScalingLayer extends Module {
  readonly shift = buffer(fromArray([-0.03, -0.088, -0.188], [1, 3, 1, 1]));
  readonly scale = buffer(fromArray([0.458, 0.448, 0.45], [1, 3, 1, 1]));

  forward(x: Tensor): Tensor {
    return div(sub(x, this.shift), this.scale);
  }
}

/** Unit length along channels: x / (‖x‖₂ + 10⁻¹⁰) (taming's `normalize_tensor`). */
function unitChannels(x: Tensor): Tensor {
  return div(x, add(sqrt(sum(mul(x, x), 1, true)), 1e-10));
}

/**
 * The perceptual distance LPIPS(x, y) per image, [B, 1, 1, 1], for RGB images in [−1, 1]: both images are scaled,
 * passed through VGG16; at each of the five layers the features are unit-normalised over channels, their squared
 * difference weighted by the layer's 1×1 conv and averaged over positions; the five results are summed.
 *
 * All parameters are frozen (requiresGrad false); gradients still flow to the images. The module is meant to stay
 * in eval mode as in the official training (LightningDiT's Lightning 2.4 keeps it so), and its dropout is never
 * applied whatever the mode, so the metric is deterministic.
 */
export class LPIPS extends Module {
  readonly scaling_layer = new ScalingLayer();
  readonly net = new Vgg16Features();
  readonly lin0 = new NetLinLayer(64);
  readonly lin1 = new NetLinLayer(128);
  readonly lin2 = new NetLinLayer(256);
  readonly lin3 = new NetLinLayer(512);
  readonly lin4 = new NetLinLayer(512);

  constructor() {
    super();
    this.requiresGrad_(false);
    this.eval();
  }

  forward(input: Tensor, target: Tensor): Tensor {
    if (input.rank !== 4 || input.shape[1] !== 3 || input.shape.some((s, i) => s !== target.shape[i])) {
      throw new EngineError(`LPIPS: needs two RGB images [B, 3, H, W] of one shape, got ${fmtShape(input.shape)} and ${fmtShape(target.shape)}`);
    }
    const a = this.net.forward(this.scaling_layer.forward(input));
    const b = this.net.forward(this.scaling_layer.forward(target));
    const lins = [this.lin0, this.lin1, this.lin2, this.lin3, this.lin4];
    const perLayer = lins.map((lin, k) => {
      const diff = sub(unitChannels(a[k]!), unitChannels(b[k]!));
      return mean(lin.forward(mul(diff, diff)), [2, 3], true);
    });
    return perLayer.reduce((total, term) => add(total, term));
  }
}
