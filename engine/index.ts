/**
 * The engine's public API: tensors, ops, autograd, random numbers, memory scopes, backends and gradcheck.
 * Importing it registers the CPU backend and every op.
 */
import './backends/cpu/index.js';
import './ops/methods.js';

export { Tensor, fromArray, scalar, tensor, type CreateOptions } from './tensor.js';
export * from './ops/index.js';
export type { DType, TypedArray } from './dtype.js';
export { EngineError, OpInputError, MissingKernelError, AnomalyError } from './errors.js';
export { getBackend, setBackend, listBackends, registerBackend, type Backend } from './backend.js';
export { listOps, getOp, type OpDef } from './op.js';
export { noGrad, enableGrad, isGradEnabled, setAnomalyMode, detectAnomaly } from './autograd/mode.js';
export { grad, vjp, jvp, hvp, type GradOptions } from './autograd/functional.js';
export { Generator, manualSeed, defaultGenerator } from './random.js';
export { scope, liveTensors, realize, setLeakTracking } from './memory.js';
export * from './gradcheck/index.js';
export * from './safetensors.js';
export {
  initWebGPU,
  destroyWebGPU,
  selectBackend,
  backendChoiceFromEnv,
  describeAdapter,
  webgpuSync,
  webgpuMemory,
  releasePooledBuffers,
  type BackendChoice,
  type Selection,
} from './backends/webgpu/device.js';
export { checkAnomalies } from './backends/webgpu/anomaly.js';
export { gpuTime, timestampsAvailable } from './backends/webgpu/timing.js';
export { tuneMatmul } from './backends/webgpu/matmul-autotune.js';
