import { EngineError, MissingKernelError } from '../engine/errors.js';
import { type Tensor, cast, clone, noGrad } from '../engine/index.js';
import { fmtShape } from '../engine/errors.js';
import { shapesEqual } from '../engine/shape.js';

/*
 * Writing new values into an existing tensor. Modules, optimisers and EMA all hold the same parameter objects,
 * so an update must change a parameter's values, never replace the object. Ops always allocate fresh outputs;
 * here the backend's `copy` kernel is run with the parameter itself as its output, which works on every backend
 * (a kernel writes into whatever output view it is handed) without a new engine primitive.
 */

/** True when `t` is the whole of its storage (contiguous, from element 0, nothing else in the buffer). */
export function ownsStorage(t: Tensor): boolean {
  return t.offset === 0 && t.isContiguous && t.storage.length === t.size;
}

/**
 * Overwrites `target`'s values with `source`'s (same shape; cast to `target`'s dtype), in place.
 * The target must be a leaf that owns its storage: a kernel writes its output densely from element 0, and a
 * tensor recorded by autograd as an op's result must not change under the graph. Like PyTorch's in-place
 * updates of parameters, this does not version tensors: a graph that saved the old values and is run backward
 * afterwards sees the new ones, so update parameters after `backward()`, as optimisers do.
 */
export function assign(target: Tensor, source: Tensor): void {
  target.assertAlive('assign');
  source.assertAlive('assign');
  if (!shapesEqual(target.shape, source.shape)) {
    throw new EngineError(`assign: source shape ${fmtShape(source.shape)} differs from target shape ${fmtShape(target.shape)}`);
  }
  if (!ownsStorage(target)) throw new EngineError(`assign: target ${fmtShape(target.shape)} is a view into a larger or strided storage; only whole tensors can be written in place`);
  if (!target.isLeaf) throw new EngineError(`assign: target ${fmtShape(target.shape)} was produced by a recorded op; only leaves can be written in place`);
  if (source.backend !== target.backend) {
    throw new EngineError(`assign: source lives on backend '${source.backend.name}', target on '${target.backend.name}'`);
  }
  if (source === target) return;
  const copy = target.backend.kernel('copy');
  if (!copy) throw new MissingKernelError('copy', target.backend.name);
  const value = noGrad(() => {
    const v = cast(source, target.dtype);
    // Reading and writing one buffer at once would let early writes corrupt later reads.
    return v.storage === target.storage ? clone(v) : v;
  });
  copy([value], [target], {});
  if (value !== source) value.dispose();
}
