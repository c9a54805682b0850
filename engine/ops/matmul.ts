import { isFloat } from '../dtype.js';
import { OpInputError, fmtShape } from '../errors.js';
import { defineOp, run1 } from '../op.js';
import type { Tensor } from '../tensor.js';
import { broadcastShapes } from '../shape.js';
import { add } from './elementwise.js';
import { sumToShape } from './reduce.js';
import { reshape, squeeze, transpose, unsqueeze } from './view.js';
import { sameDType } from './util.js';

/*
 * Matrix products. One kernel op, on [batch..., M, K] × [batch..., K, N] with broadcast batch dims; the 1-D
 * rules of torch.matmul and `linear` are views around it. The kernel reads its operands' strides, so a
 * transposed or expanded operand (such as bᵀ in the backward) is never copied.
 */

const matmulDef = defineOp<object>({
  name: 'matmul',
  family: 'matmul',
  kind: 'kernel',
  stridedInputs: true,
  infer: ([a, b]) => {
    const shapes = [a!.shape, b!.shape];
    const dtype = sameDType('matmul', [a!, b!]);
    if (!isFloat(dtype)) throw new OpInputError('matmul', `needs float tensors, got ${dtype}`, shapes);
    const [m, k] = a!.shape.slice(-2) as [number, number];
    const [k2, n] = b!.shape.slice(-2) as [number, number];
    if (k !== k2) throw innerDimsDiffer(a!, b!);
    let batch: number[];
    try {
      batch = broadcastShapes('matmul', a!.shape.slice(0, -2), b!.shape.slice(0, -2));
    } catch {
      throw new OpInputError('matmul', `batch dims ${fmtShape(a!.shape.slice(0, -2))} and ${fmtShape(b!.shape.slice(0, -2))} cannot be broadcast together`, shapes);
    }
    return [{ shape: [...batch, m, n], dtype }];
  },
  // y = a·b:  ∂a = g·bᵀ,  ∂b = aᵀ·g,  each summed over the batch dims its operand was broadcast along.
  backward: ({ inputs: [a, b], needsGrad }, [g]) => [
    needsGrad[0] ? sumToShape(batchedMatmul(g!, transpose(b!)), a!.shape) : null,
    needsGrad[1] ? sumToShape(batchedMatmul(transpose(a!), g!), b!.shape) : null,
  ],
});

function innerDimsDiffer(a: Tensor, b: Tensor): OpInputError {
  const k = a.shape[a.rank - 1];
  const k2 = b.shape[Math.max(0, b.rank - 2)];
  return new OpInputError('matmul', `inner dims differ: ${fmtShape(a.shape)} has ${k} columns, ${fmtShape(b.shape)} has ${k2} rows`, [a.shape, b.shape]);
}

function batchedMatmul(a: Tensor, b: Tensor): Tensor {
  return run1(matmulDef, [a, b], {});
}

/**
 * torch.matmul: 1-D·1-D is a dot product; a 1-D first operand is a row vector and a 1-D second operand a column
 * vector (the added dim is removed again); otherwise a batched product with broadcast batch dims.
 */
export function matmul(a: Tensor, b: Tensor): Tensor {
  if (a.rank === 0 || b.rank === 0) throw new OpInputError('matmul', 'both operands need at least one dim', [a.shape, b.shape]);
  if (a.shape[a.rank - 1] !== b.shape[Math.max(0, b.rank - 2)]) throw innerDimsDiffer(a, b);
  if (a.rank === 1 && b.rank === 1) return reshape(batchedMatmul(unsqueeze(a, 0), unsqueeze(b, 1)), []);
  if (a.rank === 1) return squeeze(batchedMatmul(unsqueeze(a, 0), b), -2);
  if (b.rank === 1) return squeeze(batchedMatmul(a, unsqueeze(b, 1)), -1);
  if (a.rank > 2 && b.rank === 2 && a.isContiguous) {
    // A stack of matrices times one matrix is one tall product; its backward then needs no batch reduction.
    const rows = reshape(a, [-1, a.shape[a.rank - 1]!]);
    return reshape(batchedMatmul(rows, b), [...a.shape.slice(0, -1), b.shape[1]!]);
  }
  return batchedMatmul(a, b);
}

/** y = x·Wᵀ + bias with weight [out, in], as torch.nn.functional.linear. */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor | null): Tensor {
  const shapes = bias ? [x.shape, weight.shape, bias.shape] : [x.shape, weight.shape];
  if (weight.rank !== 2) throw new OpInputError('linear', `weight must be [out, in], got rank ${weight.rank}`, shapes);
  const [outFeatures, inFeatures] = weight.shape as [number, number];
  if (x.rank === 0 || x.shape[x.rank - 1] !== inFeatures) {
    throw new OpInputError('linear', `input's last dim must be ${inFeatures} (weight ${fmtShape(weight.shape)})`, shapes);
  }
  if (bias && (bias.rank !== 1 || bias.shape[0] !== outFeatures)) {
    throw new OpInputError('linear', `bias must be [${outFeatures}]`, shapes);
  }
  const y = matmul(x, transpose(weight));
  return bias ? add(y, bias) : y;
}
