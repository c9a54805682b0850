import { type Tensor, clone, noGrad } from '../engine/index.js';
import { ownsStorage } from './inplace.js';

/*
 * What a tensor held by a Module is: a parameter (trained, saved), a buffer (saved, not trained: RoPE tables,
 * running statistics), or a non-persistent buffer (neither). The mark lives with the tensor, so a Module finds
 * its parameters simply by looking at its own properties.
 */

export type TensorRole = 'parameter' | 'buffer' | 'nonPersistentBuffer';

const roles = new WeakMap<Tensor, TensorRole>();

export function roleOf(t: Tensor): TensorRole | undefined {
  return roles.get(t);
}

/** A leaf that owns its storage, so it can be written in place: `value` itself when it already is one, else a copy. */
function ownedLeaf(value: Tensor): Tensor {
  return value.isLeaf && ownsStorage(value) ? value : noGrad(() => clone(value));
}

/**
 * Marks a tensor as a module parameter (like `nn.Parameter`): a leaf that requires grad (unless told otherwise,
 * e.g. a frozen table), persistent so no scope frees it, and a whole storage that optimisers update in place.
 */
export function parameter(value: Tensor, { requiresGrad = true } = {}): Tensor {
  const t = ownedLeaf(value);
  t.requiresGrad = requiresGrad;
  t.persistent = true;
  roles.set(t, 'parameter');
  return t;
}

/**
 * Marks a tensor as a module buffer (like `register_buffer`). `persistent: false` keeps it out of `stateDict()`
 * (PyTorch's meaning); every buffer survives scopes either way.
 */
export function buffer(value: Tensor, { persistent = true } = {}): Tensor {
  const t = ownedLeaf(value);
  t.persistent = true;
  roles.set(t, persistent ? 'buffer' : 'nonPersistentBuffer');
  return t;
}
