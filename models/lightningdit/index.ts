/** LightningDiT: the diffusion transformer of the VA-VAE + LightningDiT system. */
export * from './model.js';
export * from './block.js';
export * from './embedders.js';
export * from './configs.js';
