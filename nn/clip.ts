import { type Tensor, abs, add, amax, cast, div, maximum, minimum, mul, noGrad, pow, scalar, scope, sqrt, sum } from '../engine/index.js';
import { EngineError } from '../engine/errors.js';

/**
 * Rescales the gradients of `params` so that their global norm is at most `maxNorm`, as
 * `torch.nn.utils.clip_grad_norm_`: total = ‖(‖g₁‖, ‖g₂‖, …)‖ (the p-norm of all gradient entries together),
 * every gradient is multiplied by min(1, maxNorm / (total + 1e-6)), and the total norm from before clipping is
 * returned as a 0-d tensor (of the first gradient's dtype; no read-back, so nothing waits on the device; 0 when
 * no parameter has a gradient).
 * `normType` is a p ≥ 1 or Infinity (the largest |entry|). Parameters without a gradient are skipped.
 * The scaled gradients replace the old `.grad` tensors, which are freed.
 */
export function clipGradNorm(params: readonly Tensor[], maxNorm: number, normType = 2): Tensor {
  if (!(maxNorm >= 0)) throw new EngineError(`clipGradNorm: maxNorm must be non-negative, got ${maxNorm}`);
  if (!(normType >= 1)) throw new EngineError(`clipGradNorm: normType must be at least 1 (or Infinity), got ${normType}`);
  const grads = [...new Set(params.flatMap((p) => (p.grad ? [p.grad] : [])))];
  if (grads.length === 0) return scalar(0, { backend: params[0]?.backend });
  const dtype = grads[0]!.dtype;
  // The scope frees the intermediates and keeps what it returns: the total and the new gradients.
  const [total] = noGrad(() => scope(() => {
    const norms = grads.map((g) => cast(pNorm(g, normType), dtype));
    const total = normType === Infinity ? norms.reduce((a, b) => maximum(a, b)) : pRoot(norms.map((n) => pPower(n, normType)).reduce((a, b) => add(a, b)), normType);
    const coef = minimum(div(maxNorm, add(total, 1e-6)), 1);
    const scaled = new Map(grads.map((g) => [g, mul(g, cast(coef, g.dtype))]));
    for (const p of params) {
      if (!p.grad) continue;
      p.grad = scaled.get(p.grad)!;
      p.grad.persistent = p.persistent;
    }
    for (const g of grads) g.dispose();
    return [total, ...scaled.values()];
  }));
  return total!;
}

function pNorm(g: Tensor, p: number): Tensor {
  if (p === Infinity) return amax(abs(g));
  return pRoot(sum(pPower(g, p)), p);
}

function pPower(x: Tensor, p: number): Tensor {
  return p === 2 ? mul(x, x) : pow(abs(x), p);
}

function pRoot(x: Tensor, p: number): Tensor {
  return p === 2 ? sqrt(x) : pow(x, 1 / p);
}
