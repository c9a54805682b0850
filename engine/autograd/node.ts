import type { OpDef } from '../op.js';
import type { Tensor } from '../tensor.js';

/**
 * One recorded op application: what backward needs to run the op's rule.
 * Inputs and outputs are the tensors themselves; their own `gradFn`s link the graph.
 */
export class GraphNode {
  /** Set after a backward pass that did not retain the graph. */
  released = false;
  constructor(
    readonly op: OpDef,
    readonly inputs: readonly Tensor[],
    readonly outputs: readonly Tensor[],
    readonly attrs: unknown,
  ) {}
}
