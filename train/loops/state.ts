import { defaultGenerator } from '../../engine/index.js';
import type { OptimizerState } from '../../nn/index.js';
import type { Tensor } from '../../engine/index.js';
import { type Checkpoint, prefixed, section } from '../checkpoint.js';
import { CheckpointError } from '../errors.js';
import type { DataOrder, DataOrderState } from '../data/order.js';
import type { MetricsLog, MetricsWindow } from '../report/metrics.js';

/*
 * The non-weight state that makes a resumed run continue exactly: the engine's random-number generator (noise,
 * timesteps, label dropout, posterior samples), the data order, the metrics window, and each optimiser's
 * moments (tensors) and step counts (JSON).
 */

/** A data stream's Philox key: the run seed in the high word, so it never meets the model generator's stream. */
export function dataSeed(seed: number): number {
  return seed + 2 ** 32;
}

export interface LoopState {
  rng: { seed: number; offset: number };
  dataOrder: DataOrderState;
  metricsWindow: MetricsWindow;
  optimizers: Record<string, unknown>;
}

interface Checkpointable {
  getState(): OptimizerState<object>;
  setState(state: OptimizerState<object>): void;
}

export function captureState(order: DataOrder, metrics: MetricsLog, optimizers: Record<string, Checkpointable>): { state: LoopState; tensors: [string, Tensor][] } {
  const tensors: [string, Tensor][] = [];
  const metas: Record<string, unknown> = {};
  for (const [name, opt] of Object.entries(optimizers)) {
    const s = opt.getState();
    tensors.push(...prefixed(`optimizer.${name}.`, s.tensors));
    metas[name] = s.meta;
  }
  return { state: { rng: defaultGenerator.getState(), dataOrder: order.getState(), metricsWindow: metrics.getState(), optimizers: metas }, tensors };
}

export function restoreState(checkpoint: Checkpoint, order: DataOrder, metrics: MetricsLog, optimizers: Record<string, Checkpointable>): void {
  const state = checkpoint.meta.state as unknown as LoopState;
  for (const [name, opt] of Object.entries(optimizers)) {
    const meta = state.optimizers?.[name];
    if (!meta) throw new CheckpointError(`${checkpoint.path} has no state for the ${name} optimiser`);
    try {
      opt.setState({ tensors: section(checkpoint.tensors, `optimizer.${name}.`), meta: meta as OptimizerState<object>['meta'] });
    } catch (e) {
      throw new CheckpointError(`${checkpoint.path}: the ${name} optimiser state does not fit — ${(e as Error).message}`);
    }
  }
  defaultGenerator.setState(state.rng);
  order.setState(state.dataOrder);
  metrics.setState(state.metricsWindow);
}
