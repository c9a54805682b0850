import * as E from '../../engine/index.js';
import { Tensor } from '../../engine/index.js';
import { DEFAULT_CONFIG, LightningDiT, RELEASED_FLAGS, type LightningDiTConfig } from '../../models/lightningdit/index.js';
import { RELEASED_TRANSPORT, sampleTimesteps, trainingLosses } from '../../models/transport/index.js';
import { VAVAE, VAVAE_F16D32_LOSS_CONFIG, VAVAE_MNIST_CONFIG, VAVAETrainer, type AutoencoderConfig } from '../../models/vavae/index.js';
import { AdamW, type Module, type Optimizer } from '../../nn/index.js';
import type { BenchCase, PreparedCase, Suite } from '../suite.js';
import type { KernelBackend } from './kernels.js';

/*
 * Whole training steps of the two models, small enough for a CPU: the time of one optimiser step (flops and bytes
 * not counted). The models and inputs live on the suite's backend, and that backend is also the default while a
 * step runs, so that constants made inside the models land there too. On WebGPU each step ends with
 * `webgpuSync()`, like the kernel cases.
 */

/** Runs `fn` with `backend` as the default backend for new tensors, then restores the previous default. */
function onBackend<T>(backend: KernelBackend, fn: () => T): T {
  const previous = E.getBackend().name;
  E.setBackend(backend);
  try {
    return fn();
  } finally {
    E.setBackend(previous);
  }
}

/** A timed call: the synchronous step on the backend, then (on WebGPU) waiting for the device to finish it. */
function stepRunner(backend: KernelBackend, step: () => void): () => unknown {
  if (backend === 'cpu') return () => onBackend(backend, step);
  return async () => {
    onBackend(backend, step);
    await E.webgpuSync();
  };
}

/** Frees what a case built: the modules' parameters, buffers and gradients and the optimisers' state. */
function freeAll(modules: readonly Module[], optimizers: readonly Optimizer<object>[], tensors: readonly Tensor[]): void {
  for (const o of optimizers) for (const t of o.getState().tensors.values()) t.dispose();
  for (const m of modules) {
    for (const p of m.parameters()) {
      p.grad?.dispose();
      p.dispose();
    }
    for (const [, b] of m.namedBuffers()) b.dispose();
  }
  for (const t of tensors) t.dispose();
}

/** LightningDiT-Tiny/1 with the released flags on 16×8×8 latents, 10 classes. */
const DIT_CONFIG: LightningDiTConfig = {
  ...DEFAULT_CONFIG,
  ...RELEASED_FLAGS,
  inputSize: 8,
  patchSize: 1,
  inChannels: 16,
  hiddenSize: 128,
  depth: 4,
  numHeads: 4,
  numClasses: 10,
};
const DIT_BATCH = 64;

/** Forward, the rectified-flow loss (logit-normal t, MSE + cosine), backward, AdamW step and zeroGrad. */
function ditCase(backend: KernelBackend): BenchCase {
  const c = DIT_CONFIG;
  return {
    op: 'train-step lightningdit',
    shape: `x[${DIT_BATCH},${c.inChannels},${c.inputSize},${c.inputSize}] p${c.patchSize} h${c.hiddenSize} d${c.depth} heads ${c.numHeads}`,
    backend,
    dtype: 'float32',
    flops: null,
    bytes: null,
    slow: true,
    prepare: (): PreparedCase => {
      E.manualSeed(0);
      const { model, optimizer, x1, y } = onBackend(backend, () => {
        const model = new LightningDiT(c);
        const optimizer = new AdamW(model.parameters(), { lr: 1e-4, weightDecay: 0 });
        const x1 = E.randn([DIT_BATCH, c.inChannels, c.inputSize, c.inputSize], { backend });
        const y = E.randint(0, c.numClasses, [DIT_BATCH], { backend });
        return { model, optimizer, x1, y };
      });
      const step = () =>
        E.scope(() => {
          const t = sampleTimesteps(DIT_BATCH, RELEASED_TRANSPORT.timesteps, { backend });
          const { loss } = trainingLosses((xt, tt, labels) => model.forward(xt, tt, labels), x1, y, RELEASED_TRANSPORT, { t });
          loss.backward();
          optimizer.step();
          optimizer.zeroGrad();
        });
      return { run: stepRunner(backend, step), dispose: () => freeAll([model], [optimizer], [x1, y]) };
    },
  };
}

/** 3×32×32 images, ch 32, ch_mult (1,2,2), one res block per level, attention at 8×8, 16 latent channels (f4). */
const VAE_CONFIG: AutoencoderConfig = { ...VAVAE_MNIST_CONFIG, inChannels: 3, outCh: 3, zChannels: 16, embedDim: 16 };
const VAE_BATCH = 16;

/**
 * One VA-VAE iteration (`VAVAETrainer.step`): generator loss with the adaptive GAN weight, Adam step of the
 * autoencoder, hinge loss of the 3-layer PatchGAN, its Adam step. No LPIPS and no foundation model (so no VF
 * loss); the discriminator counts from step 0.
 */
function vavaeCase(backend: KernelBackend): BenchCase {
  const c = VAE_CONFIG;
  return {
    op: 'train-step vavae (G+D)',
    shape: `x[${VAE_BATCH},${c.inChannels},${c.resolution},${c.resolution}] ch${c.ch} mult(${c.chMult.join(',')}) z${c.zChannels}`,
    backend,
    dtype: 'float32',
    flops: null,
    bytes: null,
    slow: true,
    prepare: (): PreparedCase => {
      E.manualSeed(0);
      const { model, trainer, images } = onBackend(backend, () => {
        const model = new VAVAE(c, { loss: { ...VAVAE_F16D32_LOSS_CONFIG, perceptualWeight: 0, discStart: 0 } });
        const trainer = new VAVAETrainer(model);
        const images = E.tanh(E.randn([VAE_BATCH, c.inChannels, c.resolution, c.resolution], { backend }));
        return { model, trainer, images };
      });
      const step = () => {
        const log = trainer.step(images);
        for (const v of Object.values(log)) if (v instanceof Tensor) v.dispose();
      };
      return {
        run: stepRunner(backend, step),
        dispose: () => freeAll([model], [trainer.aeOptimizer, trainer.discOptimizer], [images]),
      };
    },
  };
}

/** Training steps on one backend; suite name 'train-cpu' or 'train-webgpu'. */
export function trainingSuite(backend: KernelBackend): Suite {
  return { name: `train-${backend}`, engine: 'ours', cases: () => [ditCase(backend), vavaeCase(backend)] };
}
