import { EngineError } from '../engine/errors.js';
import { add, mul, noGrad, scope } from '../engine/index.js';
import { assign } from './inplace.js';
import type { Module } from './module.js';

/**
 * Exponential moving average of a model's parameters, as the official training code's `update_ema`:
 * for every named parameter, ema ← decay·ema + (1 − decay)·θ, in place. The EMA model is a second instance
 * of the same architecture (start it equal with `ema.loadStateDict(model.stateDict())`, or `updateEma(ema,
 * model, 0)`); parameters are matched by name, frozen ones (such as a fixed position table) included.
 * Buffers are not averaged.
 */
export function updateEma(ema: Module, model: Module, decay = 0.9999): void {
  if (!(decay >= 0 && decay <= 1)) throw new EngineError(`updateEma: decay must lie in [0, 1], got ${decay}`);
  const averaged = new Map(ema.namedParameters());
  const current = model.namedParameters();
  const missing = current.filter(([name]) => !averaged.has(name)).map(([name]) => name);
  const modelNames = new Set(current.map(([name]) => name));
  const extra = [...averaged.keys()].filter((name) => !modelNames.has(name));
  if (missing.length || extra.length) {
    throw new EngineError(`updateEma: the models' parameters differ (only in the model: ${missing.join(', ') || 'none'}; only in the EMA: ${extra.join(', ') || 'none'})`);
  }
  noGrad(() =>
    scope(() => {
      for (const [name, theta] of current) {
        const e = averaged.get(name)!;
        assign(e, add(mul(e, decay), mul(theta, 1 - decay)));
      }
    }),
  );
}
