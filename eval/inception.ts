import { type Tensor, cat, expand, interpolateBilinear, mean, relu } from '../engine/index.js';
import { EngineError, fmtShape } from '../engine/errors.js';
import { BatchNorm2d, Conv2d, Linear, Module } from '../nn/index.js';
import type { ExtractorOutput, FeatureExtractor } from './features.js';
import { avgPool2dExcludePad, maxPool2d } from './pooling.js';
import { loadWeights } from './weights.js';

/*
 * InceptionV3 as pytorch-fid builds it for FID (`pytorch_fid/inception.py`, `fid_inception_v3`): torchvision's
 * Inception3 with 1008 classes and no auxiliary head, whose Mixed_5b–5d, 6b–6e, 7b and 7c blocks are replaced by
 * the FID variants that match the TensorFlow graph the FID weights came from (average pooling that does not count
 * padding; max pooling in the last block). Submodules carry torchvision's names, so the state-dict keys are those
 * of pytorch-fid's `pt_inception-2015-12-05` weights (converted to safetensors).
 */

type KernelSize = number | readonly [number, number];

interface ConvGeometry {
  stride?: number;
  padding?: number | readonly [number, number];
}

/** Convolution without bias, batch norm (ε = 0.001, running statistics) and ReLU: keys `conv.*` and `bn.*`. */
export class BasicConv2d extends Module {
  readonly conv: Conv2d;
  readonly bn: BatchNorm2d;

  constructor(inChannels: number, outChannels: number, kernelSize: KernelSize, geometry: ConvGeometry = {}) {
    super();
    this.conv = new Conv2d(inChannels, outChannels, kernelSize, { bias: false, ...geometry });
    this.bn = new BatchNorm2d(outChannels, { eps: 0.001 });
  }

  forward(x: Tensor): Tensor {
    return relu(this.bn.forward(this.conv.forward(x)));
  }
}

/** Mixed_5b–5d: 1×1, 5×5 and double 3×3 branches and a pooled 1×1 branch (64 + 64 + 96 + poolFeatures channels). */
export class FIDInceptionA extends Module {
  readonly branch1x1: BasicConv2d;
  readonly branch5x5_1: BasicConv2d;
  readonly branch5x5_2: BasicConv2d;
  readonly branch3x3dbl_1: BasicConv2d;
  readonly branch3x3dbl_2: BasicConv2d;
  readonly branch3x3dbl_3: BasicConv2d;
  readonly branch_pool: BasicConv2d;

  constructor(inChannels: number, poolFeatures: number) {
    super();
    this.branch1x1 = new BasicConv2d(inChannels, 64, 1);
    this.branch5x5_1 = new BasicConv2d(inChannels, 48, 1);
    this.branch5x5_2 = new BasicConv2d(48, 64, 5, { padding: 2 });
    this.branch3x3dbl_1 = new BasicConv2d(inChannels, 64, 1);
    this.branch3x3dbl_2 = new BasicConv2d(64, 96, 3, { padding: 1 });
    this.branch3x3dbl_3 = new BasicConv2d(96, 96, 3, { padding: 1 });
    this.branch_pool = new BasicConv2d(inChannels, poolFeatures, 1);
  }

  forward(x: Tensor): Tensor {
    return cat([
      this.branch1x1.forward(x),
      this.branch5x5_2.forward(this.branch5x5_1.forward(x)),
      this.branch3x3dbl_3.forward(this.branch3x3dbl_2.forward(this.branch3x3dbl_1.forward(x))),
      this.branch_pool.forward(avgPool2dExcludePad(x, 3, 1, 1)),
    ], 1);
  }
}

/** Mixed_6a (torchvision's InceptionB): halves the resolution; 384 + 96 + inChannels channels. */
export class InceptionB extends Module {
  readonly branch3x3: BasicConv2d;
  readonly branch3x3dbl_1: BasicConv2d;
  readonly branch3x3dbl_2: BasicConv2d;
  readonly branch3x3dbl_3: BasicConv2d;

  constructor(inChannels: number) {
    super();
    this.branch3x3 = new BasicConv2d(inChannels, 384, 3, { stride: 2 });
    this.branch3x3dbl_1 = new BasicConv2d(inChannels, 64, 1);
    this.branch3x3dbl_2 = new BasicConv2d(64, 96, 3, { padding: 1 });
    this.branch3x3dbl_3 = new BasicConv2d(96, 96, 3, { stride: 2 });
  }

  forward(x: Tensor): Tensor {
    return cat([
      this.branch3x3.forward(x),
      this.branch3x3dbl_3.forward(this.branch3x3dbl_2.forward(this.branch3x3dbl_1.forward(x))),
      maxPool2d(x, 3, 2),
    ], 1);
  }
}

/** Mixed_6b–6e: factorised 7×7 convolutions (1×7 then 7×1) with `channels7x7` inner channels; 4 × 192 channels out. */
export class FIDInceptionC extends Module {
  readonly branch1x1: BasicConv2d;
  readonly branch7x7_1: BasicConv2d;
  readonly branch7x7_2: BasicConv2d;
  readonly branch7x7_3: BasicConv2d;
  readonly branch7x7dbl_1: BasicConv2d;
  readonly branch7x7dbl_2: BasicConv2d;
  readonly branch7x7dbl_3: BasicConv2d;
  readonly branch7x7dbl_4: BasicConv2d;
  readonly branch7x7dbl_5: BasicConv2d;
  readonly branch_pool: BasicConv2d;

  constructor(inChannels: number, channels7x7: number) {
    super();
    const c7 = channels7x7;
    const wide = { padding: [0, 3] } as const; // 1×7
    const tall = { padding: [3, 0] } as const; // 7×1
    this.branch1x1 = new BasicConv2d(inChannels, 192, 1);
    this.branch7x7_1 = new BasicConv2d(inChannels, c7, 1);
    this.branch7x7_2 = new BasicConv2d(c7, c7, [1, 7], wide);
    this.branch7x7_3 = new BasicConv2d(c7, 192, [7, 1], tall);
    this.branch7x7dbl_1 = new BasicConv2d(inChannels, c7, 1);
    this.branch7x7dbl_2 = new BasicConv2d(c7, c7, [7, 1], tall);
    this.branch7x7dbl_3 = new BasicConv2d(c7, c7, [1, 7], wide);
    this.branch7x7dbl_4 = new BasicConv2d(c7, c7, [7, 1], tall);
    this.branch7x7dbl_5 = new BasicConv2d(c7, 192, [1, 7], wide);
    this.branch_pool = new BasicConv2d(inChannels, 192, 1);
  }

  forward(x: Tensor): Tensor {
    let double = x;
    for (const layer of [this.branch7x7dbl_1, this.branch7x7dbl_2, this.branch7x7dbl_3, this.branch7x7dbl_4, this.branch7x7dbl_5]) double = layer.forward(double);
    return cat([
      this.branch1x1.forward(x),
      this.branch7x7_3.forward(this.branch7x7_2.forward(this.branch7x7_1.forward(x))),
      double,
      this.branch_pool.forward(avgPool2dExcludePad(x, 3, 1, 1)),
    ], 1);
  }
}

/** Mixed_7a (torchvision's InceptionD): halves the resolution; 320 + 192 + inChannels channels. */
export class InceptionD extends Module {
  readonly branch3x3_1: BasicConv2d;
  readonly branch3x3_2: BasicConv2d;
  readonly branch7x7x3_1: BasicConv2d;
  readonly branch7x7x3_2: BasicConv2d;
  readonly branch7x7x3_3: BasicConv2d;
  readonly branch7x7x3_4: BasicConv2d;

  constructor(inChannels: number) {
    super();
    this.branch3x3_1 = new BasicConv2d(inChannels, 192, 1);
    this.branch3x3_2 = new BasicConv2d(192, 320, 3, { stride: 2 });
    this.branch7x7x3_1 = new BasicConv2d(inChannels, 192, 1);
    this.branch7x7x3_2 = new BasicConv2d(192, 192, [1, 7], { padding: [0, 3] });
    this.branch7x7x3_3 = new BasicConv2d(192, 192, [7, 1], { padding: [3, 0] });
    this.branch7x7x3_4 = new BasicConv2d(192, 192, 3, { stride: 2 });
  }

  forward(x: Tensor): Tensor {
    let tower = x;
    for (const layer of [this.branch7x7x3_1, this.branch7x7x3_2, this.branch7x7x3_3, this.branch7x7x3_4]) tower = layer.forward(tower);
    return cat([this.branch3x3_2.forward(this.branch3x3_1.forward(x)), tower, maxPool2d(x, 3, 2)], 1);
  }
}

/**
 * Mixed_7b and 7c: branches that split into parallel 1×3 and 3×1 convolutions; 320 + 768 + 768 + 192 = 2048
 * channels. The pool branch averages without counting padding in 7b (FIDInceptionE_1) and takes a 3×3 max in 7c
 * (FIDInceptionE_2), as in the TensorFlow graph.
 */
export class FIDInceptionE extends Module {
  readonly branch1x1: BasicConv2d;
  readonly branch3x3_1: BasicConv2d;
  readonly branch3x3_2a: BasicConv2d;
  readonly branch3x3_2b: BasicConv2d;
  readonly branch3x3dbl_1: BasicConv2d;
  readonly branch3x3dbl_2: BasicConv2d;
  readonly branch3x3dbl_3a: BasicConv2d;
  readonly branch3x3dbl_3b: BasicConv2d;
  readonly branch_pool: BasicConv2d;

  constructor(inChannels: number, private readonly pooling: 'average' | 'max') {
    super();
    const wide = { padding: [0, 1] } as const; // 1×3
    const tall = { padding: [1, 0] } as const; // 3×1
    this.branch1x1 = new BasicConv2d(inChannels, 320, 1);
    this.branch3x3_1 = new BasicConv2d(inChannels, 384, 1);
    this.branch3x3_2a = new BasicConv2d(384, 384, [1, 3], wide);
    this.branch3x3_2b = new BasicConv2d(384, 384, [3, 1], tall);
    this.branch3x3dbl_1 = new BasicConv2d(inChannels, 448, 1);
    this.branch3x3dbl_2 = new BasicConv2d(448, 384, 3, { padding: 1 });
    this.branch3x3dbl_3a = new BasicConv2d(384, 384, [1, 3], wide);
    this.branch3x3dbl_3b = new BasicConv2d(384, 384, [3, 1], tall);
    this.branch_pool = new BasicConv2d(inChannels, 192, 1);
  }

  forward(x: Tensor): Tensor {
    const single = this.branch3x3_1.forward(x);
    const double = this.branch3x3dbl_2.forward(this.branch3x3dbl_1.forward(x));
    const pooled = this.pooling === 'average' ? avgPool2dExcludePad(x, 3, 1, 1) : maxPool2d(x, 3, 1, 1);
    return cat([
      this.branch1x1.forward(x),
      cat([this.branch3x3_2a.forward(single), this.branch3x3_2b.forward(single)], 1),
      cat([this.branch3x3dbl_3a.forward(double), this.branch3x3dbl_3b.forward(double)], 1),
      this.branch_pool.forward(pooled),
    ], 1);
  }
}

export interface InceptionOutput {
  /** The 2048 "pool3" features that FID compares, [N, 2048]. */
  pool: Tensor;
  /** The 1008 class logits (the Inception Score's softmax input), [N, 1008]. */
  logits: Tensor;
}

/** Side of the images the network was trained on; pytorch-fid resizes every input to it. */
export const INCEPTION_SIDE = 299;

export class InceptionV3 extends Module {
  static readonly featureDim = 2048;
  static readonly classes = 1008;

  readonly Conv2d_1a_3x3 = new BasicConv2d(3, 32, 3, { stride: 2 });
  readonly Conv2d_2a_3x3 = new BasicConv2d(32, 32, 3);
  readonly Conv2d_2b_3x3 = new BasicConv2d(32, 64, 3, { padding: 1 });
  readonly Conv2d_3b_1x1 = new BasicConv2d(64, 80, 1);
  readonly Conv2d_4a_3x3 = new BasicConv2d(80, 192, 3);
  readonly Mixed_5b = new FIDInceptionA(192, 32);
  readonly Mixed_5c = new FIDInceptionA(256, 64);
  readonly Mixed_5d = new FIDInceptionA(288, 64);
  readonly Mixed_6a = new InceptionB(288);
  readonly Mixed_6b = new FIDInceptionC(768, 128);
  readonly Mixed_6c = new FIDInceptionC(768, 160);
  readonly Mixed_6d = new FIDInceptionC(768, 160);
  readonly Mixed_6e = new FIDInceptionC(768, 192);
  readonly Mixed_7a = new InceptionD(768);
  readonly Mixed_7b = new FIDInceptionE(1280, 'average');
  readonly Mixed_7c = new FIDInceptionE(2048, 'max');
  readonly fc = new Linear(2048, InceptionV3.classes);

  /** `resizeInput` false skips the resize to 299×299 (inputs must then be at least 75×75); for tests. */
  constructor(private readonly resizeInput = true) {
    super();
    this.eval();
  }

  /**
   * RGB images [N, 3, H, W] in [−1, 1]. pytorch-fid takes [0, 1] images, resizes them bilinearly (align_corners
   * false) to 299×299 and maps them to 2x − 1; resizing commutes with that affine map, so [−1, 1] images are
   * resized directly.
   */
  forward(images: Tensor): InceptionOutput {
    if (images.rank !== 4 || images.shape[1] !== 3) throw new EngineError(`InceptionV3: needs RGB images [N, 3, H, W], got ${fmtShape(images.shape)}`);
    const resize = this.resizeInput && (images.shape[2] !== INCEPTION_SIDE || images.shape[3] !== INCEPTION_SIDE);
    let x = resize ? interpolateBilinear(images, [INCEPTION_SIDE, INCEPTION_SIDE]) : images;
    x = this.Conv2d_2b_3x3.forward(this.Conv2d_2a_3x3.forward(this.Conv2d_1a_3x3.forward(x)));
    x = maxPool2d(x, 3, 2);
    x = this.Conv2d_4a_3x3.forward(this.Conv2d_3b_1x1.forward(x));
    x = maxPool2d(x, 3, 2);
    for (const block of [this.Mixed_5b, this.Mixed_5c, this.Mixed_5d, this.Mixed_6a, this.Mixed_6b, this.Mixed_6c, this.Mixed_6d, this.Mixed_6e, this.Mixed_7a, this.Mixed_7b, this.Mixed_7c]) {
      x = block.forward(x);
    }
    const pool = mean(x, [2, 3]);
    return { pool, logits: this.fc.forward(pool) };
  }
}

/**
 * A frozen InceptionV3 with pytorch-fid's weights (converted to safetensors). BatchNorm's `num_batches_tracked`
 * counters may be absent: they do not affect evaluation.
 */
export async function loadInception(path: string, model = new InceptionV3()): Promise<InceptionV3> {
  return (await loadWeights(model, path, (key) => key.endsWith('.num_batches_tracked'))).requiresGrad_(false);
}

/** Pool features and 1008-class logits; grey images are repeated to RGB, as converting a grey PNG to RGB does. */
export function inceptionExtractor(model: InceptionV3): FeatureExtractor {
  return {
    name: 'inception-v3',
    dim: InceptionV3.featureDim,
    classes: InceptionV3.classes,
    extract(images: Tensor): ExtractorOutput {
      const rgb = images.shape[1] === 1 ? expand(images, [images.shape[0]!, 3, images.shape[2]!, images.shape[3]!]) : images;
      const { pool, logits } = model.forward(rgb);
      return { features: pool, logits };
    },
  };
}
