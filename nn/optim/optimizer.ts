import { EngineError, fmtShape } from '../../engine/errors.js';
import { type Tensor, cast, clone, noGrad, realize, scope } from '../../engine/index.js';
import { shapesEqual } from '../../engine/shape.js';
import { assign } from '../inplace.js';
import { zeroGrad } from '../module.js';

/*
 * The optimiser base, after `torch.optim.Optimizer`: parameter groups with their own hyper-parameters, per-
 * parameter state, a step that runs without recording, and a checkpointable state in PyTorch's layout.
 */

/** A group of parameters and the hyper-parameters that override the optimiser's defaults for it. */
export type ParamGroupSpec<H> = { params: readonly Tensor[] } & Partial<H>;

export type ParamGroup<H> = { params: Tensor[] } & H;

/** One parameter's state: the number of steps taken and named tensors (moments, momentum buffer). */
export interface ParamState {
  step: number;
  tensors: Record<string, Tensor>;
}

/**
 * A checkpoint of an optimiser. Tensors are keyed `state.<index>.<name>`, the index counting parameters through
 * the groups in order (PyTorch's `state_dict` numbering), so the map can go straight into a safetensors file;
 * `meta` is plain JSON: each group's hyper-parameters with its parameter indices, and each parameter's step.
 * The tensors are the optimiser's own (not copies): save them before the next step.
 */
export interface OptimizerState<H> {
  tensors: Map<string, Tensor>;
  meta: { paramGroups: (H & { params: number[] })[]; steps: Record<string, number> };
}

export abstract class Optimizer<H extends object> {
  readonly paramGroups: ParamGroup<H>[];
  protected readonly state = new Map<Tensor, ParamState>();

  constructor(params: readonly Tensor[] | readonly ParamGroupSpec<H>[], defaults: H) {
    const specs: ParamGroupSpec<H>[] = isGroupList(params) ? [...params] : [{ params } as ParamGroupSpec<H>];
    this.paramGroups = specs.map((spec) => {
      const group = { ...defaults, ...spec, params: [...spec.params] } as ParamGroup<H>;
      this.validate(group);
      return group;
    });
    if (this.allParams().length === 0) throw new EngineError(`${this.constructor.name}: got an empty parameter list`);
    const seen = new Set<Tensor>();
    for (const p of this.allParams()) {
      if (seen.has(p)) throw new EngineError(`${this.constructor.name}: a parameter of shape ${fmtShape(p.shape)} appears more than once`);
      seen.add(p);
    }
  }

  /** Throws for hyper-parameters outside their valid range. */
  protected abstract validate(group: ParamGroup<H>): void;

  /**
   * The new value of `param` from its gradient; updates `state` (step already incremented). Runs inside a scope
   * without recording: temporaries are freed after the step; new state tensors are stored with `replaceState`.
   */
  protected abstract update(param: Tensor, grad: Tensor, group: ParamGroup<H>, state: ParamState): Tensor;

  private allParams(): Tensor[] {
    return this.paramGroups.flatMap((g) => g.params);
  }

  /** One update of every parameter that has a gradient; parameters without one are left alone. */
  step(): void {
    noGrad(() =>
      scope(() => {
        for (const group of this.paramGroups) {
          for (const p of group.params) {
            if (!p.grad) continue;
            let state = this.state.get(p);
            if (!state) this.state.set(p, (state = { step: 0, tensors: {} }));
            state.step++;
            assign(p, this.update(p, p.grad, group, state));
          }
        }
      }),
    );
  }

  zeroGrad(): void {
    zeroGrad(this.allParams());
  }

  getState(): OptimizerState<H> {
    const tensors = new Map<string, Tensor>();
    const steps: Record<string, number> = {};
    this.allParams().forEach((p, i) => {
      const s = this.state.get(p);
      if (!s) return;
      steps[i] = s.step;
      for (const [name, t] of Object.entries(s.tensors)) tensors.set(`state.${i}.${name}`, t);
    });
    let index = 0;
    const paramGroups = this.paramGroups.map(({ params, ...hyper }) => ({ ...(hyper as H), params: params.map(() => index++) }));
    return { tensors, meta: { paramGroups, steps } };
  }

  /** Restores a checkpoint made by `getState` for the same parameters (the tensors are copied). */
  setState(checkpoint: OptimizerState<H>): void {
    const name = this.constructor.name;
    const { paramGroups, steps } = checkpoint.meta;
    const sizes = this.paramGroups.map((g) => g.params.length);
    if (paramGroups.length !== sizes.length || paramGroups.some((g, i) => g.params.length !== sizes[i])) {
      throw new EngineError(`${name}.setState: the checkpoint has groups of ${paramGroups.map((g) => g.params.length).join(', ')} parameters, this optimiser ${sizes.join(', ')}`);
    }
    const groups = paramGroups.map(({ params: _indices, ...hyper }, i) => ({ ...this.paramGroups[i]!, ...hyper }) as ParamGroup<H>);
    groups.forEach((g) => this.validate(g));
    const params = this.allParams();
    for (const index of Object.keys(steps)) {
      if (!params[Number(index)]) throw new EngineError(`${name}.setState: a step count for parameter ${index}, but there are ${params.length} parameters`);
    }
    const stateTensors = [...checkpoint.tensors].map(([key, t]) => {
      const match = /^state\.(\d+)\.(\w+)$/.exec(key);
      const index = match ? Number(match[1]) : -1;
      const p = params[index];
      if (!p || steps[index] === undefined) throw new EngineError(`${name}.setState: tensor '${key}' belongs to no parameter with a step count`);
      if (!shapesEqual(t.shape, p.shape)) throw new EngineError(`${name}.setState: '${key}' has shape ${fmtShape(t.shape)}, the parameter ${fmtShape(p.shape)}`);
      return { p, name: match![2]!, t };
    });

    groups.forEach((g, i) => Object.assign(this.paramGroups[i]!, g));
    for (const s of this.state.values()) Object.values(s.tensors).forEach((t) => t.dispose());
    this.state.clear();
    for (const [index, step] of Object.entries(steps)) this.state.set(params[Number(index)]!, { step, tensors: {} });
    for (const { p, name: tensorName, t } of stateTensors) {
      // A copy in the parameter's dtype, owned by the optimiser (the caller may free the loaded tensors).
      const owned = noGrad(() => (t.dtype === p.dtype ? clone(t) : cast(t, p.dtype)));
      this.state.get(p)!.tensors[tensorName] = keep(owned);
    }
  }
}

function isGroupList<H>(params: readonly Tensor[] | readonly ParamGroupSpec<H>[]): params is readonly ParamGroupSpec<H>[] {
  return params.length > 0 && 'params' in (params[0] as object);
}

/** Marks a state tensor to outlive the step's scope. */
export function keep(t: Tensor): Tensor {
  t.persistent = true;
  return t;
}

/**
 * Replaces a state tensor by its new value, freeing the old one. The value is computed at once where a backend
 * defers work (see `realize`): otherwise, on WebGPU, a moment would hold its previous value and the gradient
 * until the next step read it.
 */
export function replaceState(state: ParamState, name: string, value: Tensor): Tensor {
  const old = state.tensors[name];
  state.tensors[name] = keep(realize(value));
  if (old && old !== value) old.dispose();
  return value;
}

export function checkRange(optimizer: string, name: string, value: number, ok: boolean): void {
  if (!ok || !Number.isFinite(value)) throw new EngineError(`${optimizer}: invalid ${name} ${value}`);
}
