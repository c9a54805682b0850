/** Tiny configurations for the pipeline tests: every code path, seconds per command on a CPU. */

export function tinyVae(out: string, data: unknown) {
  return {
    kind: 'train-vae',
    out,
    seed: 1,
    data,
    hflip: true,
    model: { ch: 8, chMult: [1, 2], numResBlocks: 1, attnResolutions: [8], inChannels: 1, outCh: 1, resolution: 16, zChannels: 4, embedDim: 4, numGroups: 4 },
    // The GAN switches on at Lightning step 2 (the second iteration), so both phases run.
    loss: { discStart: 2, klWeight: 1e-6, discWeight: 0.5, discNumLayers: 2, perceptualWeight: 0, vfWeight: 0.5, adaptiveVf: true, cosMargin: 0.5, distmatMargin: 0.25 },
    // The bundled MNIST encoder's conv2 map (8×8) matches the 8×8 latent, so the VF branch runs too.
    foundation: { kind: 'mnist-classifier', layer: 'conv2' },
    lpips: null,
    optimizer: { lr: 1e-3, betas: [0.5, 0.9] },
    train: { steps: 3, batchSize: 4 },
    checkpoint: { every: 2, keep: 2 },
    log: { every: 1, plotEvery: 2, sampleEvery: 2 },
  };
}

export function tinyEncode(vae: string, out: string, data: unknown) {
  return { kind: 'encode', vae, data, out, seed: 42, batchSize: 5, shardSize: 7, flip: true, statsSamples: 100 };
}

export function tinyDit(out: string, latents: string, vae: string | null) {
  return {
    kind: 'train-dit',
    out,
    seed: 3,
    data: { latents, flipProb: 0.5 },
    vae,
    model: { depth: 1, hiddenSize: 16, numHeads: 2, patchSize: 2, classDropoutProb: 0.1, useQknorm: false, useSwiglu: true, useRope: true, useRmsnorm: true, woShift: false },
    transport: { timesteps: 'logit-normal', cosineLoss: true },
    optimizer: { lr: 1e-3, betas: [0.9, 0.95], warmupSteps: 2 },
    ema: { decay: 0.99, warmup: true },
    train: { steps: 4, batchSize: 4, gradAccumulation: 2 },
    checkpoint: { every: 2, keep: 5 },
    log: { every: 1, plotEvery: 2, sampleEvery: 4 },
    sample: { method: 'euler', numSteps: 3, shift: 0.3, cfgScale: 2, cfgIntervalStart: 0.2, guidedChannels: 3, perClass: 1, batchSize: 4 },
  };
}
