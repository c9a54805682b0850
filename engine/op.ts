import type { Backend, Storage } from './backend.js';
import type { DType } from './dtype.js';
import { AnomalyError, EngineError, MissingKernelError, OpInputError, fmtShape } from './errors.js';
import { GraphNode } from './autograd/node.js';
import { isAnomalyMode, isGradEnabled } from './autograd/mode.js';
import { Tensor } from './tensor.js';
import { numel } from './shape.js';

/**
 * The op registry. An op is defined once, here or in `engine/ops/<family>.ts`: its name, its checks and
 * output shapes, and its backward rule written in differentiable ops. Backends supply kernels by op name in
 * files named after the same family (`engine/backends/<backend>/<family>.ts`).
 */
export type OpFamily =
  | 'elementwise' | 'reduce' | 'shape' | 'index' | 'matmul' | 'conv' | 'norm' | 'attention' | 'loss' | 'random' | 'creation';

export interface OutputSpec {
  shape: readonly number[];
  dtype: DType;
}

export interface BackwardContext<A> {
  readonly inputs: readonly Tensor[];
  readonly outputs: readonly Tensor[];
  readonly attrs: A;
  /** needsGrad[i]: whether input i wants a gradient (rules may skip work for the others). */
  readonly needsGrad: readonly boolean[];
}

/** Gradient per input; null/undefined for inputs without one (integer inputs, masks). */
export type BackwardRule<A> = (ctx: BackwardContext<A>, gradOutputs: readonly Tensor[]) => readonly (Tensor | null | undefined)[];

interface OpBase<A> {
  readonly name: string;
  readonly family: OpFamily;
  /** Absent: the op is not differentiable (comparisons, argmax, integer ops). */
  readonly backward?: BackwardRule<A>;
}

/** An op with a kernel on every backend. */
export interface KernelOp<A = any> extends OpBase<A> {
  readonly kind: 'kernel';
  /** Checks inputs and attributes (throwing OpInputError) and gives the outputs' shapes and dtypes. */
  readonly infer: (inputs: readonly Tensor[], attrs: A) => OutputSpec[];
  /** The kernel walks strides itself, so views need no copy first. */
  readonly stridedInputs?: boolean;
}

/** An op that re-labels existing storage (reshape, permute, expand, slice): no kernel, no copy. */
export interface ViewOp<A = any> extends OpBase<A> {
  readonly kind: 'view';
  readonly view: (input: Tensor, attrs: A) => { shape: readonly number[]; strides: readonly number[]; offset: number };
}

/**
 * An op defined by other ops (softmax, layer_norm, attention...). Autograd goes through its parts unless a
 * backend supplies a fused kernel under the same name; then `infer` gives the outputs and the backward is
 * `backward` if given, else the gradient of the composite definition (recomputed), so higher orders still work.
 */
export interface CompositeOp<A = any> extends OpBase<A> {
  readonly kind: 'composite';
  readonly composite: (inputs: readonly Tensor[], attrs: A) => Tensor[];
  readonly infer?: (inputs: readonly Tensor[], attrs: A) => OutputSpec[];
}

export type OpDef<A = any> = KernelOp<A> | ViewOp<A> | CompositeOp<A>;

const registry = new Map<string, OpDef>();

export function defineOp<A>(def: OpDef<A>): OpDef<A> {
  if (registry.has(def.name)) throw new EngineError(`op '${def.name}' is defined twice`);
  registry.set(def.name, def);
  return def;
}

export function getOp(name: string): OpDef {
  const op = registry.get(name);
  if (!op) throw new EngineError(`unknown op '${name}'`);
  return op;
}

/** Every registered op (for the test that each one has a gradient property test). */
export function listOps(): OpDef[] {
  return [...registry.values()];
}

function commonBackend(op: string, inputs: readonly Tensor[], fallback?: Backend): Backend {
  const backend = inputs[0]?.backend ?? fallback;
  if (!backend) throw new EngineError(`${op}: no input tensor and no backend given`);
  for (const t of inputs) {
    t.assertAlive(op);
    if (t.backend !== backend) {
      throw new OpInputError(op, `inputs live on different backends (${inputs.map((x) => x.backend.name).join(', ')}); move them with .to()`, inputs.map((x) => x.shape));
    }
  }
  return backend;
}

/**
 * Runs an op: checks, kernel or view, and (when any input requires grad and recording is on) a graph node.
 * `backend` is only needed for ops without tensor inputs (creation, random).
 */
export function runOp<A>(def: OpDef<A>, inputs: readonly Tensor[], attrs: A, backend?: Backend): Tensor[] {
  const be = commonBackend(def.name, inputs, backend);
  let outputs: Tensor[];
  let recordAs: OpDef<A> = def;
  switch (def.kind) {
    case 'view': {
      const v = def.view(inputs[0]!, attrs);
      outputs = [new Tensor(inputs[0]!.storage, v.shape, v.strides, v.offset)];
      break;
    }
    case 'kernel':
      outputs = runKernel(def, def.infer(inputs, attrs), be, inputs, attrs);
      break;
    case 'composite': {
      // `infer` validates on both paths, so a composite's checks live in one place whichever path runs.
      const specs = def.infer?.(inputs, attrs);
      const fused = specs ? be.kernel(def.name) : undefined;
      if (!fused) return def.composite(inputs, attrs);
      outputs = runKernel(def, specs!, be, inputs, attrs);
      recordAs = def.backward ? def : { ...def, backward: compositeBackward(def) };
      break;
    }
  }
  if (isAnomalyMode()) checkFinite(`${def.name} (forward)`, inputs, outputs);
  if (recordAs.backward && isGradEnabled() && inputs.some((t) => t.requiresGrad)) {
    const node = new GraphNode(recordAs, inputs, outputs, attrs);
    outputs.forEach((o, i) => {
      if (o.dtype === 'int32') return;
      o.gradFn = node;
      o.outputIndex = i;
      o.requiresGrad = true;
    });
  }
  return outputs;
}

function runKernel<A>(def: OpDef<A>, specs: OutputSpec[], be: Backend, inputs: readonly Tensor[], attrs: A): Tensor[] {
  const kernel = be.kernel(def.name);
  if (!kernel) throw new MissingKernelError(def.name, be.name);
  const strided = def.kind === 'kernel' && def.stridedInputs === true;
  const prepared = strided ? inputs : inputs.map((t) => (t.isContiguous ? t : contiguous(t)));
  const storages: Storage[] = specs.map((s, i) => allocOutput(def.name, be, s, i));
  const outputs = specs.map((s, i) => new Tensor(storages[i]!, s.shape));
  kernel(prepared as Tensor[], outputs, attrs);
  prepared.forEach((t, i) => t !== inputs[i] && t.dispose());
  return outputs;
}

/** A backend refusing an allocation (a device limit) says how large; this adds which op and output asked. */
function allocOutput(op: string, be: Backend, spec: OutputSpec, index: number): Storage {
  try {
    return be.alloc(spec.dtype, numel(spec.shape));
  } catch (e) {
    throw new EngineError(`${op}: output ${index} of shape ${fmtShape(spec.shape)}: ${(e as Error).message}`);
  }
}

/** Lazily bound to the `contiguous` op in ops/shape.ts. */
let contiguous: (t: Tensor) => Tensor = () => {
  throw new EngineError('contiguous is not registered yet');
};
export function setContiguousOp(fn: (t: Tensor) => Tensor): void {
  contiguous = fn;
}

/** Lazily bound to the functional `vjp` (autograd/functional.ts), to differentiate composites run fused. */
let vjpOfComposite: <A>(def: CompositeOp<A>) => BackwardRule<A> = () => {
  throw new EngineError('autograd is not loaded');
};
export function setCompositeBackward(fn: typeof vjpOfComposite): void {
  vjpOfComposite = fn;
}
function compositeBackward<A>(def: CompositeOp<A>): BackwardRule<A> {
  return vjpOfComposite(def);
}

/** How a backend that reads asynchronously checks outputs in anomaly mode (see webgpu/anomaly.ts). */
export type FiniteCheck = (where: string, inputs: readonly Tensor[], values: readonly Tensor[]) => void;
const deferredFiniteChecks = new Map<string, FiniteCheck>();

/**
 * Lets `backend` record anomaly checks to be read back later, where reading each op's outputs at once would make
 * every op wait for the device. The backend then throws the AnomalyError of the first check that failed.
 */
export function deferFiniteChecks(backend: string, check: FiniteCheck): void {
  deferredFiniteChecks.set(backend, check);
}

/** Anomaly mode's check of an op's outputs (forward) or of a backward rule's gradients. */
export function checkFinite(where: string, inputs: readonly Tensor[], values: readonly Tensor[]): void {
  const deferred = values[0] && deferredFiniteChecks.get(values[0].backend.name);
  if (deferred) return deferred(where, inputs, values);
  for (const v of values) {
    if (v.dtype === 'int32') continue;
    const data = v.toArraySync();
    for (let i = 0; i < data.length; i++) {
      if (!Number.isFinite(data[i]!)) {
        throw new AnomalyError(
          `anomaly: ${where} produced ${data[i]} at flat index ${i} of an output of shape ${fmtShape(v.shape)}` +
            ` (input shapes ${inputs.map((t) => fmtShape(t.shape)).join(', ')})`,
        );
      }
    }
  }
}

/** Shorthand for single-output ops. */
export function run1<A>(def: OpDef<A>, inputs: readonly Tensor[], attrs: A, backend?: Backend): Tensor {
  return runOp(def, inputs, attrs, backend)[0]!;
}
