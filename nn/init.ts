import { EngineError, fmtShape } from '../engine/errors.js';
import { type Generator, type Tensor, add, full, mul, noGrad, rand, randn, scope } from '../engine/index.js';
import { assign } from './inplace.js';

/*
 * Initialisers after `torch.nn.init`: each overwrites a tensor's values in place and returns it. Random ones draw
 * from the engine's seeded generator (the default one, or `generator`), so a seed fixes every initial weight.
 */

export interface InitOptions {
  generator?: Generator;
}

/** Writes the tensor made by `make` into `t`, freeing the temporaries. */
function fillWith(t: Tensor, make: () => Tensor): Tensor {
  noGrad(() => scope(() => assign(t, make())));
  return t;
}

export function constant_(t: Tensor, value: number): Tensor {
  return fillWith(t, () => full(t.shape, value, { dtype: t.dtype, backend: t.backend }));
}
export const zeros_ = (t: Tensor): Tensor => constant_(t, 0);
export const ones_ = (t: Tensor): Tensor => constant_(t, 1);

/** U(a, b). */
export function uniform_(t: Tensor, a = 0, b = 1, { generator }: InitOptions = {}): Tensor {
  return fillWith(t, () => add(mul(rand(t.shape, { dtype: t.dtype, backend: t.backend, generator }), b - a), a));
}

/** N(mean, std²). */
export function normal_(t: Tensor, mean = 0, std = 1, { generator }: InitOptions = {}): Tensor {
  return fillWith(t, () => add(mul(randn(t.shape, { dtype: t.dtype, backend: t.backend, generator }), std), mean));
}

/**
 * fan_in = size(1)·receptive field, fan_out = size(0)·receptive field, where the receptive field is the product
 * of the dims after the first two (a Conv2d weight [out, in, kh, kw] has fan_in = in·kh·kw).
 */
export function fanInAndFanOut(t: Tensor): { fanIn: number; fanOut: number } {
  if (t.rank < 2) throw new EngineError(`init: fan in and fan out need a tensor of rank ≥ 2, got ${fmtShape(t.shape)}`);
  const receptive = t.shape.slice(2).reduce((a, b) => a * b, 1);
  return { fanIn: t.shape[1]! * receptive, fanOut: t.shape[0]! * receptive };
}

export type Nonlinearity = 'linear' | 'conv2d' | 'sigmoid' | 'tanh' | 'relu' | 'leaky_relu' | 'selu';

/** The gain that keeps activations' variance steady through `nonlinearity` (`torch.nn.init.calculate_gain`). */
export function calculateGain(nonlinearity: Nonlinearity, negativeSlope = 0.01): number {
  switch (nonlinearity) {
    case 'linear':
    case 'conv2d':
    case 'sigmoid':
      return 1;
    case 'tanh':
      return 5 / 3;
    case 'relu':
      return Math.SQRT2;
    case 'leaky_relu':
      return Math.sqrt(2 / (1 + negativeSlope ** 2));
    case 'selu':
      return 3 / 4;
  }
}

/**
 * Glorot: U(−b, b) with b = gain·√(6 / (fan_in + fan_out)). To take the fans of another shape (LightningDiT's
 * patch embedding uses its conv weight viewed as [D, C·p·p]), pass a view of the detached weight:
 * `xavierUniform_(w.detach().reshape([D, -1]))` writes through to `w`, like `w.data.view(...)`.
 */
export function xavierUniform_(t: Tensor, gain = 1, opts: InitOptions = {}): Tensor {
  const { fanIn, fanOut } = fanInAndFanOut(t);
  const bound = gain * Math.sqrt(6 / (fanIn + fanOut));
  return uniform_(t, -bound, bound, opts);
}

export interface KaimingOptions extends InitOptions {
  /** Negative slope of the leaky ReLU that follows (only used with 'leaky_relu'). */
  a?: number;
  mode?: 'fan_in' | 'fan_out';
  nonlinearity?: Nonlinearity;
}

/** He: U(−b, b) with b = √3 · gain / √fan (PyTorch's defaults: a = 0, fan_in, leaky_relu). */
export function kaimingUniform_(t: Tensor, { a = 0, mode = 'fan_in', nonlinearity = 'leaky_relu', generator }: KaimingOptions = {}): Tensor {
  const { fanIn, fanOut } = fanInAndFanOut(t);
  const fan = mode === 'fan_in' ? fanIn : fanOut;
  if (fan === 0) return t; // a zero-element tensor: nothing to fill (PyTorch warns and does the same)
  const bound = Math.sqrt(3) * (calculateGain(nonlinearity, a) / Math.sqrt(fan));
  return uniform_(t, -bound, bound, { generator });
}

/**
 * What `nn.Linear` and `nn.Conv2d` do at construction (`reset_parameters`): kaiming_uniform with a = √5 on the
 * weight, which is U(−1/√fan_in, 1/√fan_in), and the bias from the same range.
 */
export function defaultLayerInit_(weight: Tensor, bias: Tensor | null, opts: InitOptions = {}): void {
  kaimingUniform_(weight, { a: Math.sqrt(5), ...opts });
  if (bias) {
    const { fanIn } = fanInAndFanOut(weight);
    const bound = fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0;
    uniform_(bias, -bound, bound, opts);
  }
}
