import { EngineError, fmtShape } from '../engine/errors.js';
import { type DType, Tensor, cast, noGrad } from '../engine/index.js';
import { isFloat } from '../engine/dtype.js';
import { shapesEqual } from '../engine/shape.js';
import { assign } from './inplace.js';
import { type TensorRole, buffer, parameter, roleOf } from './parameter.js';

export type StateDict = Map<string, Tensor>;
export type StateDictLike = ReadonlyMap<string, Tensor> | Readonly<Record<string, Tensor>>;

/** `loadStateDict` found keys or shapes that do not fit; every problem is listed in the one message. */
export class StateDictError extends EngineError {
  override name = 'StateDictError';
  constructor(
    readonly missingKeys: readonly string[],
    readonly unexpectedKeys: readonly string[],
    readonly mismatches: readonly string[],
  ) {
    const parts = [
      missingKeys.length ? `missing keys: ${missingKeys.join(', ')}` : '',
      unexpectedKeys.length ? `unexpected keys: ${unexpectedKeys.join(', ')}` : '',
      mismatches.length ? `mismatches: ${mismatches.join('; ')}` : '',
    ];
    super(`loadStateDict: ${parts.filter(Boolean).join('. ')}`);
  }
}

export interface LoadResult {
  missingKeys: string[];
  unexpectedKeys: string[];
}

/**
 * The base of every layer and model, after `torch.nn.Module`. A module's parameters, buffers and submodules are
 * its own properties: a property holding a Module is a child, one holding a tensor marked by `parameter()` or
 * `buffer()` is a parameter or buffer. Their order is the order the properties were first defined (for class
 * fields, their declaration order), which gives PyTorch's key order in `stateDict()`: a module's parameters,
 * then its buffers, then each child's keys under `<child name>.`. A plain array of modules is not looked into:
 * hold lists of layers in a ModuleList, as in PyTorch.
 */
export abstract class Module {
  /** Training mode (dropout active, label dropout...) versus evaluation mode. */
  training = true;

  /** Direct submodules and their names, in registration order. */
  namedChildren(): [string, Module][] {
    return Object.entries(this).filter((e): e is [string, Module] => e[1] instanceof Module);
  }

  /** This module's own parameters and buffers (not its children's), parameters first. */
  private ownTensors(): [string, Tensor, TensorRole][] {
    const found: [string, Tensor, TensorRole][] = [];
    for (const [name, value] of Object.entries(this)) {
      const role = value instanceof Tensor ? roleOf(value) : undefined;
      if (role) found.push([name, value, role]);
    }
    return [...found.filter((e) => e[2] === 'parameter'), ...found.filter((e) => e[2] !== 'parameter')];
  }

  /** Every module in the tree, this one first (name ''), depth-first; a module reached twice is listed once. */
  namedModules(prefix = ''): [string, Module][] {
    const out: [string, Module][] = [];
    const seen = new Set<Module>();
    const visit = (name: string, m: Module): void => {
      if (seen.has(m)) return;
      seen.add(m);
      out.push([name, m]);
      for (const [child, sub] of m.namedChildren()) visit(name ? `${name}.${child}` : child, sub);
    };
    visit(prefix, this);
    return out;
  }

  modules(): Module[] {
    return this.namedModules().map(([, m]) => m);
  }

  private namedTensors(kind: (role: TensorRole) => boolean): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    const seen = new Set<Tensor>();
    for (const [prefix, m] of this.namedModules()) {
      for (const [name, t, role] of m.ownTensors()) {
        if (!kind(role) || seen.has(t)) continue;
        seen.add(t);
        out.push([prefix ? `${prefix}.${name}` : name, t]);
      }
    }
    return out;
  }

  /** Parameters with dotted names (each tensor once, even when shared by two modules). */
  namedParameters(): [string, Tensor][] {
    return this.namedTensors((r) => r === 'parameter');
  }

  parameters(): Tensor[] {
    return this.namedParameters().map(([, t]) => t);
  }

  /** Buffers with dotted names, persistent or not. */
  namedBuffers(): [string, Tensor][] {
    return this.namedTensors((r) => r !== 'parameter');
  }

  /** Number of parameter elements (each shared tensor once); frozen ones too unless `trainableOnly`. */
  numParameters({ trainableOnly = false } = {}): number {
    return this.parameters().reduce((n, p) => n + (trainableOnly && !p.requiresGrad ? 0 : p.size), 0);
  }

  /** Parameters and persistent buffers under PyTorch's dotted keys. The tensors are the module's own, not copies. */
  stateDict(): StateDict {
    const out: StateDict = new Map();
    const collect = (prefix: string, m: Module): void => {
      for (const [name, t, role] of m.ownTensors()) {
        if (role !== 'nonPersistentBuffer') out.set(prefix + name, t);
      }
      for (const [name, child] of m.namedChildren()) collect(`${prefix}${name}.`, child);
    };
    collect('', this);
    return out;
  }

  /**
   * Copies values from `state` into this module's tensors in place (so optimisers and EMA keep their references),
   * casting dtypes where they differ. Shapes must match. With `strict` (the default) every key must match too.
   * All problems are reported together, and nothing is written unless the whole load can succeed.
   */
  loadStateDict(state: StateDictLike, { strict = true } = {}): LoadResult {
    const own = this.stateDict();
    const given = state instanceof Map ? state : new Map(Object.entries(state));
    const missingKeys = [...own.keys()].filter((k) => !given.has(k));
    const unexpectedKeys = [...given.keys()].filter((k) => !own.has(k));
    const mismatches: string[] = [];
    for (const [key, target] of own) {
      const source = given.get(key);
      if (!source) continue;
      if (!(source instanceof Tensor)) mismatches.push(`${key}: value is not a Tensor`);
      else if (!shapesEqual(source.shape, target.shape)) mismatches.push(`${key}: shape ${fmtShape(source.shape)} in the state, ${fmtShape(target.shape)} in the module`);
      else if (source.backend !== target.backend) mismatches.push(`${key}: on backend '${source.backend.name}', the module is on '${target.backend.name}'`);
    }
    if (mismatches.length || (strict && (missingKeys.length || unexpectedKeys.length))) {
      throw new StateDictError(strict ? missingKeys : [], strict ? unexpectedKeys : [], mismatches);
    }
    for (const [key, target] of own) {
      const source = given.get(key);
      if (source) assign(target, source);
    }
    return { missingKeys, unexpectedKeys };
  }

  /**
   * Casts every floating-point parameter and buffer to `dtype` (like `module.to(dtype)`; int32 buffers stay). The
   * tensors are replaced by converted ones (a shared tensor stays shared), so build optimisers and EMA after this.
   */
  to(dtype: DType): this {
    const converted = new Map<Tensor, Tensor>();
    for (const m of this.modules()) {
      for (const [name, t, role] of m.ownTensors()) {
        if (!isFloat(t.dtype) || t.dtype === dtype) continue;
        let replacement = converted.get(t);
        if (!replacement) {
          const value = noGrad(() => cast(t, dtype));
          replacement = role === 'parameter' ? parameter(value, { requiresGrad: t.requiresGrad }) : buffer(value, { persistent: role === 'buffer' });
          converted.set(t, replacement);
        }
        (m as unknown as Record<string, unknown>)[name] = replacement;
      }
    }
    for (const old of converted.keys()) old.dispose();
    return this;
  }

  /** Sets training mode on this module and every submodule. */
  train(mode = true): this {
    for (const m of this.modules()) m.training = mode;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Freezes (false) or unfreezes every parameter, like `requires_grad_()`. */
  requiresGrad_(value = true): this {
    for (const p of this.parameters()) p.requiresGrad = value;
    return this;
  }

  /** Drops the parameters' gradients (PyTorch's default `set_to_none`), freeing their storage. */
  zeroGrad(): void {
    zeroGrad(this.parameters());
  }

  /* Explicit registration, for names chosen at run time. Property assignment does the same for fixed names. */

  registerParameter(name: string, value: Tensor | null, opts?: { requiresGrad?: boolean }): Tensor | null {
    return this.setEntry(name, value && parameter(value, opts));
  }

  registerBuffer(name: string, value: Tensor | null, opts?: { persistent?: boolean }): Tensor | null {
    return this.setEntry(name, value && buffer(value, opts));
  }

  registerModule<M extends Module>(name: string, module: M): M {
    return this.setEntry(name, module);
  }

  private setEntry<T>(name: string, value: T): T {
    if (name === '' || name.includes('.')) throw new EngineError(`register: name '${name}' must be non-empty and contain no '.'`);
    (this as unknown as Record<string, unknown>)[name] = value;
    return value;
  }
}

/** Drops the gradients of `params` (disposing each gradient tensor once). */
export function zeroGrad(params: readonly Tensor[]): void {
  const grads = new Set<Tensor>();
  for (const p of params) {
    if (p.grad) grads.add(p.grad);
    p.grad = null;
  }
  for (const g of grads) g.dispose();
}

/** A module whose forward maps one tensor to one tensor (what Sequential chains). */
export interface UnaryModule extends Module {
  forward(x: Tensor): Tensor;
}
