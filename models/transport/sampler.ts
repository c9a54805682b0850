import * as E from '../../engine/index.js';
import type { Tensor } from '../../engine/index.js';
import type { ConditionalForward, GuidanceOptions } from './cfg.js';
import { type OdeMethod, odeint } from './ode.js';
import { timeGrid } from './timesteps.js';

/**
 * Sampling by the probability-flow ODE dx/dt = v(x, t) from noise at t = 0 to data at t = 1 (official
 * `Sampler.sample_ode` + inference.py).
 */
export interface SampleOdeOptions {
  /** Released: 'euler'. The official `sample_ode` default is 'dopri5'. */
  method: OdeMethod;
  /** Grid points, not steps: 250 (released) means 249 Euler steps. For dopri5 only the output times. */
  numSteps: number;
  /** Timestep shift s of the grid (released 0.3); 0 disables it. */
  shift?: number;
  /** dopri5 tolerances; released 1e-6 / 1e-3. */
  atol?: number;
  rtol?: number;
  /**
   * dopri5: times where the field jumps, stepped onto exactly (see `OdeOptions.jumpLocations`). The official sampler
   * passes none; with a CFG interval, [intervalStart] keeps dopri5 accurate across the switch to guidance.
   */
  jumpLocations?: readonly number[];
}

/** A velocity field over a batch: (x [N, …], t [N]) → v [N, …]. */
export type BatchVelocity = (x: Tensor, t: Tensor) => Tensor;

/** The trajectory at every grid time (first entry: `x0` itself). The model sees t as a [N] vector of the grid value. */
export function sampleOde(velocity: BatchVelocity, x0: Tensor, opts: SampleOdeOptions): Tensor[] {
  const grid = timeGrid(opts.numSteps, opts.shift ?? 0, x0.dtype);
  const field = (t: number, x: Tensor) => velocity(x, E.full([x.shape[0]!], t, { dtype: x.dtype, backend: x.backend }));
  return odeint(field, x0, grid, { method: opts.method, atol: opts.atol ?? 1e-6, rtol: opts.rtol ?? 1e-3, jumpLocations: opts.jumpLocations });
}

/** What class-conditional sampling needs of a model (LightningDiT has both). */
export interface ClassConditionalModel {
  forward: ConditionalForward;
  forwardWithCfg(x: Tensor, t: Tensor, y: Tensor, scale: number, opts?: GuidanceOptions): Tensor;
  /** The label that means "no class" (num_classes). */
  readonly nullLabel: number;
}

export interface GenerateOptions extends SampleOdeOptions, GuidanceOptions {
  /** Guidance is on when > 1 (released 6.7–10, with intervalStart 0.10–0.125). */
  cfgScale: number;
}

export interface Generated {
  /** The samples at t = 1, shape of z. */
  samples: Tensor;
  /** The whole ODE trajectory; with guidance, of the doubled [conditional; unconditional] state. */
  trajectory: Tensor[];
}

/**
 * Class-conditional generation as inference.py does it: with cfgScale > 1 the state is [z; z] with labels
 * [y; null] and the model's guided forward, and the first half of the final state is the result; otherwise a
 * single conditional forward per evaluation.
 */
export function generate(model: ClassConditionalModel, z: Tensor, y: Tensor, opts: GenerateOptions): Generated {
  if (!(opts.cfgScale > 1)) {
    const trajectory = sampleOde((x, t) => model.forward(x, t, y), z, opts);
    return { samples: trajectory[trajectory.length - 1]!, trajectory };
  }
  const yFull = E.cat([y, E.full([y.shape[0]!], model.nullLabel, { dtype: 'int32', backend: y.backend })], 0);
  const guidance = { intervalStart: opts.intervalStart, guidedChannels: opts.guidedChannels };
  const trajectory = sampleOde((x, t) => model.forwardWithCfg(x, t, yFull, opts.cfgScale, guidance), E.cat([z, z], 0), opts);
  const samples = E.narrow(trajectory[trajectory.length - 1]!, 0, 0, z.shape[0]!);
  return { samples, trajectory };
}
