/** VA-VAE: the LDM KL-autoencoder with the vision-foundation alignment loss (hustvl/LightningDiT `vavae/`). */
export * from './config.js';
export * from './blocks.js';
export * from './distribution.js';
export * from './autoencoder.js';
export * from './losses/index.js';
export * from './vavae.js';
export * from './training.js';
