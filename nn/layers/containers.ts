import type { Tensor } from '../../engine/index.js';
import { EngineError } from '../../engine/errors.js';
import { Module, type UnaryModule } from '../module.js';

/** `nn.ModuleList`: an indexed list of submodules whose keys are their positions ('0', '1', ...). */
export class ModuleList<M extends Module = Module> extends Module implements Iterable<M> {
  private readonly items: M[];

  constructor(modules: Iterable<M> = []) {
    super();
    this.items = [...modules];
  }

  override namedChildren(): [string, Module][] {
    return this.items.map((m, i) => [String(i), m]);
  }

  get length(): number {
    return this.items.length;
  }

  /** The module at `index` (negative counts from the end). */
  at(index: number): M {
    const m = this.items.at(index);
    if (!m) throw new EngineError(`ModuleList: index ${index} is out of range for ${this.items.length} modules`);
    return m;
  }

  push(...modules: M[]): this {
    this.items.push(...modules);
    return this;
  }

  [Symbol.iterator](): Iterator<M> {
    return this.items[Symbol.iterator]();
  }
}

/** `nn.Sequential`: applies its modules in order; keys are their positions, as in ModuleList. */
export class Sequential extends ModuleList<UnaryModule> {
  constructor(...modules: UnaryModule[]) {
    super(modules);
  }

  forward(x: Tensor): Tensor {
    let y = x;
    for (const m of this) y = m.forward(y);
    return y;
  }
}
