import type { DType } from '../dtype.js';
import { Tensor } from '../tensor.js';
import { type BackwardOptions, tensorBackward } from '../autograd/engine.js';
import * as ew from './elementwise.js';
import * as red from './reduce.js';
import * as vw from './view.js';
import type { TensorLike } from './util.js';

/**
 * PyTorch-style methods on Tensor (`x.mul(y).sum()`), each a thin call to the op function of the same name.
 * The functions in `engine/ops/` are the primary API; this file only makes chaining read naturally.
 */
declare module '../tensor.js' {
  interface Tensor {
    backward(gradient?: Tensor, opts?: BackwardOptions): void;
    to(dtype: DType): Tensor;
    detach(): Tensor;
    contiguous(): Tensor;
    clone(): Tensor;
    add(o: TensorLike): Tensor;
    sub(o: TensorLike): Tensor;
    mul(o: TensorLike): Tensor;
    div(o: TensorLike): Tensor;
    pow(o: TensorLike): Tensor;
    neg(): Tensor;
    exp(): Tensor;
    log(): Tensor;
    sqrt(): Tensor;
    abs(): Tensor;
    tanh(): Tensor;
    sigmoid(): Tensor;
    sum(dims?: red.Dims, keepdim?: boolean): Tensor;
    mean(dims?: red.Dims, keepdim?: boolean): Tensor;
    amax(dims?: red.Dims, keepdim?: boolean): Tensor;
    amin(dims?: red.Dims, keepdim?: boolean): Tensor;
    argmax(dim?: number, keepdim?: boolean): Tensor;
    reshape(shape: readonly number[]): Tensor;
    view(shape: readonly number[]): Tensor;
    permute(order: readonly number[]): Tensor;
    transpose(dim0?: number, dim1?: number): Tensor;
    expand(shape: readonly number[]): Tensor;
    squeeze(dims?: number | readonly number[]): Tensor;
    unsqueeze(dim: number): Tensor;
    flatten(startDim?: number, endDim?: number): Tensor;
    narrow(dim: number, start: number, length: number): Tensor;
  }
}

const methods: Partial<Record<keyof Tensor, (this: Tensor, ...args: never[]) => unknown>> = {
  backward(this: Tensor, gradient?: Tensor, opts: BackwardOptions = {}) {
    tensorBackward(this, gradient, opts);
  },
  to(this: Tensor, dtype: DType) {
    return ew.cast(this, dtype);
  },
  detach(this: Tensor) {
    return vw.detach(this);
  },
  contiguous(this: Tensor) {
    return vw.contiguous(this);
  },
  clone(this: Tensor) {
    return vw.clone(this);
  },
  add(this: Tensor, o: TensorLike) { return ew.add(this, o); },
  sub(this: Tensor, o: TensorLike) { return ew.sub(this, o); },
  mul(this: Tensor, o: TensorLike) { return ew.mul(this, o); },
  div(this: Tensor, o: TensorLike) { return ew.div(this, o); },
  pow(this: Tensor, o: TensorLike) { return ew.pow(this, o); },
  neg(this: Tensor) { return ew.neg(this); },
  exp(this: Tensor) { return ew.exp(this); },
  log(this: Tensor) { return ew.log(this); },
  sqrt(this: Tensor) { return ew.sqrt(this); },
  abs(this: Tensor) { return ew.abs(this); },
  tanh(this: Tensor) { return ew.tanh(this); },
  sigmoid(this: Tensor) { return ew.sigmoid(this); },
  sum(this: Tensor, dims?: red.Dims, keepdim?: boolean) { return red.sum(this, dims, keepdim); },
  mean(this: Tensor, dims?: red.Dims, keepdim?: boolean) { return red.mean(this, dims, keepdim); },
  amax(this: Tensor, dims?: red.Dims, keepdim?: boolean) { return red.amax(this, dims, keepdim); },
  amin(this: Tensor, dims?: red.Dims, keepdim?: boolean) { return red.amin(this, dims, keepdim); },
  argmax(this: Tensor, dim?: number, keepdim?: boolean) { return red.argmax(this, dim, keepdim); },
  reshape(this: Tensor, shape: readonly number[]) { return vw.reshape(this, shape); },
  view(this: Tensor, shape: readonly number[]) { return vw.reshape(this, shape); },
  permute(this: Tensor, order: readonly number[]) { return vw.permute(this, order); },
  transpose(this: Tensor, dim0?: number, dim1?: number) { return vw.transpose(this, dim0, dim1); },
  expand(this: Tensor, shape: readonly number[]) { return vw.expand(this, shape); },
  squeeze(this: Tensor, dims?: number | readonly number[]) { return vw.squeeze(this, dims); },
  unsqueeze(this: Tensor, dim: number) { return vw.unsqueeze(this, dim); },
  flatten(this: Tensor, startDim?: number, endDim?: number) { return vw.flatten(this, startDim, endDim); },
  narrow(this: Tensor, dim: number, start: number, length: number) { return vw.narrow(this, dim, start, length); },
};
Object.assign(Tensor.prototype, methods);
