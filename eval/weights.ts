import { loadSafetensors } from '../engine/index.js';
import { EngineError } from '../engine/errors.js';
import type { Module } from '../nn/index.js';

/**
 * Loads a safetensors file into `module` (values copied into its own tensors). Every key of the file must belong to
 * the module, and every key of the module must be in the file unless `optional(key)` says it may be left as it
 * is; otherwise nothing is loaded and the error lists the keys.
 */
export async function loadWeights<M extends Module>(module: M, path: string, optional: (key: string) => boolean = () => false): Promise<M> {
  const { tensors } = await loadSafetensors(path);
  try {
    const own = new Set(module.stateDict().keys());
    const missing = [...own].filter((k) => !tensors.has(k) && !optional(k));
    const unexpected = [...tensors.keys()].filter((k) => !own.has(k));
    if (missing.length || unexpected.length) {
      const parts = [missing.length ? `missing ${missing.join(', ')}` : '', unexpected.length ? `unexpected ${unexpected.join(', ')}` : ''];
      throw new EngineError(`loadWeights ${path}: ${parts.filter(Boolean).join('; ')}`);
    }
    module.loadStateDict(tensors, { strict: false });
  } finally {
    for (const t of tensors.values()) t.dispose();
  }
  return module;
}
