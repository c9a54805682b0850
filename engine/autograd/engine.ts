import { EngineError, OpInputError, fmtShape } from '../errors.js';
import { checkFinite } from '../op.js';
import type { Tensor } from '../tensor.js';
import { shapesEqual } from '../shape.js';
import { enableGrad, isAnomalyMode, noGrad, withoutForwardChecks } from './mode.js';
import type { GraphNode } from './node.js';
import { add, clone, onesLike, zerosLike } from './helpers.js';

export interface BackwardOptions {
  /** Keep the graph so that backward can run through it again. */
  retainGraph?: boolean;
  /** Record the backward pass itself, so that gradients can be differentiated again. */
  createGraph?: boolean;
}

/**
 * Reverse-mode sweep. Nodes are visited in reverse topological order (found by an explicit-stack DFS, no
 * recursion), each node's output gradients are summed before its rule runs, and the rule's results flow to
 * its inputs. Returns the gradient reaching each requested target (leaf or not); with no targets, leaf
 * gradients are accumulated into `.grad` as `Tensor.backward()` does.
 */
export function backwardPass(
  roots: readonly Tensor[],
  rootGrads: readonly Tensor[],
  opts: BackwardOptions & { targets?: readonly Tensor[] },
): (Tensor | null)[] {
  const createGraph = opts.createGraph ?? false;
  const retainGraph = opts.retainGraph ?? createGraph;
  const targets = opts.targets;

  const nodeGrads = new Map<GraphNode, (Tensor | null)[]>();
  const leafGrads = new Map<Tensor, Tensor>();
  const accumulate = (t: Tensor, g: Tensor): void => {
    if (!t.requiresGrad) return;
    if (t.gradFn) {
      let slots = nodeGrads.get(t.gradFn);
      if (!slots) nodeGrads.set(t.gradFn, (slots = t.gradFn.outputs.map(() => null)));
      const prev = slots[t.outputIndex];
      slots[t.outputIndex] = prev ? add(prev, g) : g;
    } else {
      const prev = leafGrads.get(t);
      leafGrads.set(t, prev ? add(prev, g) : g);
    }
  };

  const targetSet = targets ? new Set(targets) : undefined;
  const captured = new Map<Tensor, Tensor>();
  const order = topologicalOrder(roots, targetSet);

  const sweep = (): void => {
    roots.forEach((r, i) => accumulate(r, rootGrads[i]!));
    for (const node of order) {
      const slots = nodeGrads.get(node);
      if (!slots) continue;
      if (node.released) {
        throw new EngineError(`backward: the graph through '${node.op.name}' was already freed by an earlier backward; pass retainGraph: true to the first one`);
      }
      if (targetSet) node.outputs.forEach((o, i) => targetSet.has(o) && slots[i] && captured.set(o, slots[i]!));
      const gradOutputs = node.outputs.map((o, i) => slots[i] ?? zerosLike(o));
      const needsGrad = node.inputs.map((t) => t.requiresGrad);
      const grads = withoutForwardChecks(() => node.op.backward!({ inputs: node.inputs, outputs: node.outputs, attrs: node.attrs, needsGrad }, gradOutputs));
      nodeGrads.delete(node);
      if (!retainGraph) node.released = true;
      if (isAnomalyMode()) checkFinite(`${node.op.name} (backward)`, node.inputs, grads.filter((g): g is Tensor => !!g));
      node.inputs.forEach((input, i) => {
        const g = grads[i];
        if (!g || !input.requiresGrad) return;
        if (!shapesEqual(g.shape, input.shape)) {
          throw new EngineError(`backward of '${node.op.name}': gradient for input ${i} has shape ${fmtShape(g.shape)}, expected ${fmtShape(input.shape)}`);
        }
        accumulate(input, g);
      });
    }
  };
  // Rules may pass a gradient through unchanged (add gives both inputs the same tensor), so two results, or a
  // result and the caller's seed, could be one object, and disposing one would free the other. Each result
  // handed out is a tensor of its own.
  const handedOut = new Set<Tensor>(rootGrads);
  const own = (g: Tensor): Tensor => {
    const mine = handedOut.has(g) ? clone(g) : g;
    handedOut.add(mine);
    return mine;
  };
  const finish = (): (Tensor | null)[] => {
    sweep();
    if (targets) {
      // A non-leaf target whose producer was not needed still holds its gradient in its producer's slots.
      return targets.map((t) => {
        const g = t.gradFn ? (captured.get(t) ?? nodeGrads.get(t.gradFn)?.[t.outputIndex]) : leafGrads.get(t);
        return g ? own(g) : null;
      });
    }
    for (const [leaf, g] of leafGrads) {
      const previous = leaf.grad;
      const total = previous ? add(previous, g) : own(g);
      total.persistent = leaf.persistent;
      leaf.grad = total;
      // The sum replaces the old gradient (PyTorch adds in place). A persistent one would otherwise live on until
      // the garbage collector finds it, which frees no GPU buffer; with createGraph the sum's graph still needs it.
      if (previous && !createGraph) previous.dispose();
    }
    return [];
  };
  return createGraph ? enableGrad(finish) : noGrad(finish);
}

/**
 * Nodes reachable from `roots`, every node before the nodes it feeds (reverse post-order of an iterative DFS).
 * With targets, nodes from which no target can be reached through their inputs are dropped.
 */
function topologicalOrder(roots: readonly Tensor[], targets?: Set<Tensor>): GraphNode[] {
  const postOrder: GraphNode[] = [];
  const state = new Map<GraphNode, 'open' | 'done'>();
  const leadsToTarget = new Map<GraphNode, boolean>();
  const stack: { node: GraphNode; next: number }[] = [];
  for (const r of roots) {
    if (!r.gradFn || state.has(r.gradFn)) continue;
    stack.push({ node: r.gradFn, next: 0 });
    state.set(r.gradFn, 'open');
    while (stack.length) {
      const top = stack[stack.length - 1]!;
      const inputs = top.node.inputs;
      if (top.next < inputs.length) {
        const child = inputs[top.next++]!.gradFn;
        if (child && inputs[top.next - 1]!.requiresGrad && !state.has(child)) {
          state.set(child, 'open');
          stack.push({ node: child, next: 0 });
        }
        continue;
      }
      stack.pop();
      state.set(top.node, 'done');
      if (targets) {
        const reaches = inputs.some((t) => targets.has(t) || (t.gradFn !== null && leadsToTarget.get(t.gradFn) === true));
        leadsToTarget.set(top.node, reaches);
      }
      postOrder.push(top.node);
    }
  }
  const order = postOrder.reverse();
  return targets ? order.filter((n) => leadsToTarget.get(n)) : order;
}

/** `loss.backward()`: the root's gradient defaults to ones (scalars only, as in PyTorch). */
export function tensorBackward(root: Tensor, gradient: Tensor | undefined, opts: BackwardOptions): void {
  if (!root.requiresGrad) throw new EngineError(`backward: tensor of shape ${fmtShape(root.shape)} does not require grad (no input required it, or it was made under noGrad)`);
  if (!gradient && root.size !== 1) {
    throw new OpInputError('backward', `a gradient must be given for a non-scalar output of shape ${fmtShape(root.shape)}`, [root.shape]);
  }
  const g = gradient ?? noGrad(() => onesLike(root));
  checkSeed('backward', root, g);
  backwardPass([root], [g], opts);
}

/** A seed gradient must have its output's shape. */
export function checkSeed(op: string, output: Tensor, g: Tensor, what = 'gradient'): void {
  if (!shapesEqual(g.shape, output.shape)) {
    throw new OpInputError(op, `${what} shape ${fmtShape(g.shape)} does not match output shape ${fmtShape(output.shape)}`, [output.shape, g.shape]);
  }
}
