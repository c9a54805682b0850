import { EngineError, OpInputError, fmtShape } from '../errors.js';
import type { BackwardRule, CompositeOp } from '../op.js';
import { setCompositeBackward } from '../op.js';
import type { Tensor } from '../tensor.js';
import { onesLike, zerosLike } from '../ops/creation.js';
import { add, mul } from '../ops/elementwise.js';
import { sum } from '../ops/reduce.js';
import { detach, squeeze, unsqueeze } from '../ops/view.js';
import { backwardPass, checkSeed } from './engine.js';
import { enableGrad, isGradEnabled } from './mode.js';

export interface GradOptions {
  /** Record the gradient computation, so its result can be differentiated again. */
  createGraph?: boolean;
  /** Keep the graph for another backward pass (defaults to createGraph). */
  retainGraph?: boolean;
  /** Return zeros for inputs that the outputs do not depend on, instead of throwing. */
  allowUnused?: boolean;
}

/**
 * Gradients of `outputs` (weighted by `gradOutputs`, default ones for scalars) with respect to `inputs`,
 * without touching any `.grad` (like `torch.autograd.grad`).
 */
export function grad(outputs: Tensor | readonly Tensor[], inputs: Tensor | readonly Tensor[], gradOutputs?: readonly Tensor[], opts: GradOptions = {}): Tensor[] {
  const outs = Array.isArray(outputs) ? (outputs as Tensor[]) : [outputs as Tensor];
  const ins = Array.isArray(inputs) ? (inputs as Tensor[]) : [inputs as Tensor];
  ins.forEach((t, i) => {
    if (!t.requiresGrad) throw new OpInputError('grad', `input ${i} of shape ${fmtShape(t.shape)} does not require grad`, [t.shape]);
  });
  const roots: Tensor[] = [];
  const seeds: Tensor[] = [];
  outs.forEach((o, i) => {
    const g = gradOutputs?.[i] ?? defaultSeed(o, i);
    checkSeed('grad', o, g, `gradOutputs[${i}]`);
    if (o.requiresGrad) {
      roots.push(o);
      seeds.push(g);
    }
  });
  const found = backwardPass(roots, seeds, { ...opts, targets: ins });
  return found.map((g, i) => {
    if (g) return g;
    if (!opts.allowUnused) throw new EngineError(`grad: input ${i} of shape ${fmtShape(ins[i]!.shape)} was not used to compute the outputs; pass allowUnused: true`);
    return zerosLike(ins[i]!);
  });
}

function defaultSeed(o: Tensor, i: number): Tensor {
  if (o.size !== 1) throw new OpInputError('grad', `output ${i} of shape ${fmtShape(o.shape)} is not a scalar; give gradOutputs`, [o.shape]);
  return onesLike(o);
}

/** Runs `fn` on fresh leaves that track gradients, returning the leaves and the outputs. */
function trace(fn: (...xs: Tensor[]) => Tensor | Tensor[], xs: readonly Tensor[]): { leaves: Tensor[]; outs: Tensor[] } {
  return enableGrad(() => {
    const leaves = xs.map((x) => (x.requiresGrad ? x : detach(x).requiresGrad_()));
    const y = fn(...leaves);
    return { leaves, outs: Array.isArray(y) ? y : [y] };
  });
}

/**
 * Vector–Jacobian product: the outputs of `fn` at `xs`, and `v ↦ vᵀJ`. The pullback can be called more than
 * once; with createGraph its results are differentiable again.
 */
export function vjp(fn: (...xs: Tensor[]) => Tensor | Tensor[], xs: readonly Tensor[], opts: { createGraph?: boolean } = {}) {
  const { leaves, outs } = trace(fn, xs);
  const pullback = (v: readonly Tensor[]): Tensor[] =>
    grad(outs, leaves, v, { createGraph: opts.createGraph, retainGraph: true, allowUnused: true });
  return { outputs: outs, pullback };
}

/**
 * Jacobian–vector product by the double-vjp trick: g(v) = vᵀJ is linear in v, so J·u = ∂⟨g(v), u⟩/∂v.
 */
export function jvp(fn: (...xs: Tensor[]) => Tensor | Tensor[], xs: readonly Tensor[], us: readonly Tensor[], opts: { createGraph?: boolean } = {}) {
  const { leaves, outs } = trace(fn, xs);
  return enableGrad(() => {
    const vs = outs.map((o) => zerosLike(o).requiresGrad_());
    const gs = grad(outs, leaves, vs, { createGraph: true, retainGraph: true, allowUnused: true });
    const inner = gs.reduce<Tensor | null>((acc, g, i) => {
      const term = sum(mul(g, us[i]!));
      return acc ? add(acc, term) : term;
    }, null)!;
    const tangents = grad([inner], vs, undefined, { createGraph: opts.createGraph, retainGraph: true, allowUnused: true });
    return { outputs: outs, tangents };
  });
}

/** Hessian–vector product of a scalar function: ∇(⟨∇f(x), v⟩). */
export function hvp(fn: (...xs: Tensor[]) => Tensor, xs: readonly Tensor[], vs: readonly Tensor[], opts: { createGraph?: boolean } = {}): Tensor[] {
  const { leaves, outs } = trace(fn, xs);
  return enableGrad(() => {
    const gs = grad(outs, leaves, undefined, { createGraph: true, retainGraph: true, allowUnused: true });
    const inner = gs.reduce<Tensor | null>((acc, g, i) => {
      const term = sum(mul(g, vs[i]!));
      return acc ? add(acc, term) : term;
    }, null)!;
    return grad([inner], leaves, undefined, { createGraph: opts.createGraph, retainGraph: opts.createGraph, allowUnused: true });
  });
}

/**
 * The backward of a composite op that ran as a fused kernel: re-run the composite definition on the saved inputs
 * and pull the output gradients back through it (recorded when higher orders are being taken). Each input enters
 * through its own alias (a view with its own graph node), so the pullback gives the partial derivative for that
 * input alone: pulled back to the inputs themselves, it would also follow paths between inputs that depend on one
 * another (layer_norm(x, w) with w computed from x), and the outer backward would count those paths twice.
 */
setCompositeBackward(<A>(def: CompositeOp<A>): BackwardRule<A> => ({ inputs, attrs, needsGrad }, gradOutputs) => {
  const xs = inputs.map((x, i) => (needsGrad[i] ? squeeze(unsqueeze(x, 0), 0) : detach(x)));
  // Rules run with recording on exactly when the outer backward is creating a graph.
  const { pullback } = vjp((...leaves) => def.composite(leaves, attrs), xs, { createGraph: isGradEnabled() });
  return pullback(gradOutputs);
});
