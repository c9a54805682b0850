import { describe, test } from 'vitest';
import * as E from '../../engine/index.js';
import { expectOpError } from '../helpers/expect.js';

const x23 = () => E.zeros([2, 3]);
const ints = () => E.fromArray([1, 2], [2], { dtype: 'int32' });

describe('elementwise', () => {
  test('broadcast mismatch names the op and both shapes', () => {
    expectOpError(() => E.add(x23(), E.zeros([4])), 'add', 'cannot be broadcast', 'input shapes [2,3], [4]');
    expectOpError(() => E.maximum(x23(), E.zeros([3, 2])), 'maximum', '[2,3]', '[3,2]');
    expectOpError(() => E.where(E.zeros([5]), x23(), 0), 'where', '[5]', '[2,3]');
  });

  test('mixed dtypes are refused, not silently converted', () => {
    expectOpError(() => E.add(x23(), E.zeros([2, 3], { dtype: 'float64' })), 'add', 'dtypes differ (float32, float64)', '[2,3], [2,3]');
    expectOpError(() => E.where(E.ones([3]), E.zeros([3]), E.zeros([3], { dtype: 'int32' })), 'where', 'dtypes differ');
  });

  test('float-only ops refuse int32', () => {
    expectOpError(() => E.log(ints()), 'log', 'needs a float tensor, got int32', 'input shapes [2]');
    expectOpError(() => E.div(ints(), ints()), 'div', 'needs float tensors, got int32', '[2], [2]');
    expectOpError(() => E.pow(ints(), 2), 'pow', 'int32');
    expectOpError(() => E.sigmoid(ints()), 'sigmoid', 'int32');
  });

  test('cast to an unknown dtype', () => {
    expectOpError(() => E.cast(x23(), 'float16' as never), 'cast', "unknown dtype 'float16'", '[2,3]');
  });
});

describe('activations', () => {
  test('bad arguments name the op', () => {
    expectOpError(() => E.gelu(x23(), 'fast' as never), 'gelu', "approximate must be 'none' or 'tanh'", '[2,3]');
    expectOpError(() => E.gelu(ints()), 'gelu', 'int32');
    expectOpError(() => E.leakyRelu(ints()), 'leaky_relu', 'int32');
    expectOpError(() => E.leakyRelu(x23(), NaN), 'leaky_relu', 'negativeSlope');
    expectOpError(() => E.silu(ints()), 'silu', 'int32');
    expectOpError(() => E.clamp(x23()), 'clamp', 'at least one of min and max', '[2,3]');
    expectOpError(() => E.clamp(x23(), NaN), 'clamp', 'min is NaN');
    expectOpError(() => E.clamp(ints(), 0, 1.5), 'clamp', 'max 1.5 is not an integer');
  });
});

describe('reductions', () => {
  test('dim out of range, for every reduction', () => {
    expectOpError(() => E.sum(x23(), 2), 'sum', 'dim 2 is out of range for a tensor of rank 2', '[2,3]');
    expectOpError(() => E.mean(x23(), -3), 'mean', 'dim -3');
    expectOpError(() => E.amax(x23(), [0, 5]), 'amax', 'dim 5');
    expectOpError(() => E.amin(x23(), 1.5), 'amin', 'dim 1.5');
    expectOpError(() => E.argmax(x23(), 2), 'argmax', 'dim 2');
    expectOpError(() => E.argmin(x23(), -4), 'argmin', 'dim -4');
    expectOpError(() => E.variance(x23(), 3), 'var', 'dim 3');
    expectOpError(() => E.logsumexp(x23(), 7), 'logsumexp', 'dim 7');
    expectOpError(() => E.softmax(x23(), 2), 'softmax', 'dim 2', '[2,3]');
    expectOpError(() => E.logSoftmax(x23(), -3), 'log_softmax', 'dim -3');
  });

  test('repeated dims, empty max, bad correction, int32 mean', () => {
    expectOpError(() => E.sum(x23(), [1, -1]), 'sum', 'repeat a dim');
    expectOpError(() => E.amax(E.zeros([0, 2]), 0), 'amax', 'cannot reduce over dim 0 of size 0', '[0,2]');
    expectOpError(() => E.variance(x23(), 1, { correction: -1 }), 'var', 'correction');
    expectOpError(() => E.mean(ints()), 'mean', 'int32');
    expectOpError(() => E.softmax(ints()), 'softmax', 'int32');
  });
});

describe('views', () => {
  test('reshape size mismatch and bad targets', () => {
    expectOpError(() => E.reshape(x23(), [4]), 'reshape', 'shape [4] holds 4 elements, the tensor has 6', '[2,3]');
    expectOpError(() => E.reshape(x23(), [-1, -1]), 'reshape', 'only one dim may be -1');
    expectOpError(() => E.reshape(x23(), [4, -1]), 'reshape', 'cannot infer -1');
    expectOpError(() => E.reshape(x23(), [2, -3]), 'reshape', 'invalid shape');
  });

  test('expand to an impossible shape', () => {
    expectOpError(() => E.expand(x23(), [3, 3]), 'expand', 'cannot expand [2,3] to [3,3]', '[2,3]');
    expectOpError(() => E.expand(x23(), [3]), 'expand', 'fewer dims');
    expectOpError(() => E.expand(x23(), [-1, 2, 3]), 'expand', 'dim 0');
  });

  test('narrow and slice out of range', () => {
    expectOpError(() => E.narrow(x23(), 1, 2, 2), 'narrow', 'start=2 length=2 does not fit dim 1 of size 3', '[2,3]');
    expectOpError(() => E.narrow(x23(), 2, 0, 1), 'narrow', 'dim 2 is out of range');
    expectOpError(() => E.narrow(E.scalar(1), 0, 0, 1), 'narrow', '0-d');
    expectOpError(() => E.slice(x23(), 0, 0.5), 'slice', 'integers');
    expectOpError(() => E.slice(E.scalar(1), 0), 'slice', '0-d');
  });

  test('permute, transpose, squeeze, unsqueeze, flatten', () => {
    expectOpError(() => E.permute(x23(), [0, 0]), 'permute', 'not a permutation', '[2,3]');
    expectOpError(() => E.permute(x23(), [0]), 'permute', 'not a permutation');
    expectOpError(() => E.transpose(E.zeros([3])), 'transpose', 'dim -2');
    expectOpError(() => E.squeeze(x23(), 2), 'squeeze', 'dim 2');
    expectOpError(() => E.unsqueeze(x23(), 3), 'unsqueeze', 'dim 3');
    expectOpError(() => E.flatten(x23(), 1, 0), 'flatten', 'startDim 1 comes after endDim 0');
  });

  test('pad cropping a dim below size 0, or with malformed amounts', () => {
    expectOpError(() => E.pad(x23(), [-2, -2]), 'pad', 'crop dim 1 below size 0', '[2,3]');
    expectOpError(() => E.pad(x23(), [1]), 'pad', 'pairs of integers');
    expectOpError(() => E.pad(x23(), [0, 0, 0, 0, 1, 1]), 'pad', 'at most one pair per dim');
  });
});

describe('creation', () => {
  test('shapes, dtypes and values that cannot make a tensor', () => {
    expectOpError(() => E.full([2, -1], 0), 'full', 'invalid shape [2,-1]');
    expectOpError(() => E.zeros([1.5]), 'full', 'invalid shape');
    expectOpError(() => E.full([2], 0.5, { dtype: 'int32' }), 'full', 'not an integer');
    expectOpError(() => E.ones([2], { dtype: 'bool' as never }), 'full', "unknown dtype 'bool'");
    expectOpError(() => E.arange(0, 5, 0), 'arange', 'step must not be 0');
    expectOpError(() => E.arange(0, 5, -1), 'arange', 'points away');
    expectOpError(() => E.arange(0, Infinity), 'arange', 'finite');
    expectOpError(() => E.arange(0, 2, 0.5, { dtype: 'int32' }), 'arange', 'integer');
    expectOpError(() => E.linspace(0, 1, -1), 'linspace', 'non-negative integer');
    expectOpError(() => E.eye(-1), 'eye', 'non-negative integers');
  });

  test('random draws', () => {
    expectOpError(() => E.rand([2], { dtype: 'int32' }), 'rand', 'need a float dtype');
    expectOpError(() => E.randn([-2]), 'randn', 'invalid shape');
    expectOpError(() => E.randint(3, 3, [2]), 'randint', 'low < high');
    expectOpError(() => E.randint(0, 2 ** 40, [2]), 'randint', 'wider than 2^32');
    expectOpError(() => E.randint(0, 2 ** 32, [2]), 'randint', 'does not fit int32');
  });
});
