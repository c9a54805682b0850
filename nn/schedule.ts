import { EngineError } from '../engine/errors.js';

/*
 * Learning-rate schedules as factors of each group's base learning rate, a pure function of the step (so a
 * checkpoint only needs the step), applied by `LrScheduler` like PyTorch's `LambdaLR`.
 */

/** The factor applied to the base learning rate for optimiser step `step` (0-based). */
export type Schedule = (step: number) => number;

function checkSteps(name: string, value: number, min: number): void {
  if (!Number.isInteger(value) || value < min) throw new EngineError(`${name} must be an integer ≥ ${min}, got ${value}`);
}

/** The base learning rate throughout (what the released LightningDiT training uses). */
export const constantSchedule = (): Schedule => () => 1;

/** Rises linearly from 0 at step 0 to 1 at step `warmupSteps`, then stays at 1. */
export function linearWarmup(warmupSteps: number): Schedule {
  checkSteps('linearWarmup: warmupSteps', warmupSteps, 0);
  return (step) => (warmupSteps === 0 ? 1 : Math.min(1, step / warmupSteps));
}

/**
 * Linear warmup over `warmupSteps`, then a half cosine from 1 down to `minFactor` at `totalSteps`, and
 * `minFactor` after that. With no warmup this is PyTorch's `CosineAnnealingLR` (T_max = totalSteps) in closed form.
 */
export function cosineSchedule({ totalSteps, warmupSteps = 0, minFactor = 0 }: { totalSteps: number; warmupSteps?: number; minFactor?: number }): Schedule {
  checkSteps('cosineSchedule: warmupSteps', warmupSteps, 0);
  checkSteps('cosineSchedule: totalSteps', totalSteps, warmupSteps + 1);
  if (!(minFactor >= 0 && minFactor <= 1)) throw new EngineError(`cosineSchedule: minFactor must lie in [0, 1], got ${minFactor}`);
  const warmup = linearWarmup(warmupSteps);
  return (step) => {
    if (step < warmupSteps) return warmup(step);
    const progress = Math.min(1, (step - warmupSteps) / (totalSteps - warmupSteps));
    return minFactor + (1 - minFactor) * 0.5 * (1 + Math.cos(Math.PI * progress));
  };
}

/** What a scheduler needs of an optimiser: groups with a learning rate. */
export interface HasParamGroups {
  paramGroups: { lr: number }[];
}

/**
 * Sets every group's learning rate to base · schedule(step). The base rates are the groups' rates when the
 * scheduler is made; the rate for step 0 is applied at once, and `step()` advances to the next.
 */
export class LrScheduler {
  private readonly baseLrs: number[];
  private current = 0;

  constructor(
    private readonly optimizer: HasParamGroups,
    private readonly schedule: Schedule,
  ) {
    this.baseLrs = optimizer.paramGroups.map((g) => g.lr);
    this.apply();
  }

  /** The step whose learning rate is in effect. */
  get stepCount(): number {
    return this.current;
  }

  step(): void {
    this.current++;
    this.apply();
  }

  getState(): { step: number; baseLrs: number[] } {
    return { step: this.current, baseLrs: [...this.baseLrs] };
  }

  setState(state: { step: number; baseLrs: number[] }): void {
    if (state.baseLrs.length !== this.baseLrs.length) throw new EngineError(`LrScheduler.setState: ${state.baseLrs.length} base rates for ${this.baseLrs.length} groups`);
    this.baseLrs.splice(0, this.baseLrs.length, ...state.baseLrs);
    this.current = state.step;
    this.apply();
  }

  private apply(): void {
    const factor = this.schedule(this.current);
    this.optimizer.paramGroups.forEach((g, i) => (g.lr = this.baseLrs[i]! * factor));
  }
}
