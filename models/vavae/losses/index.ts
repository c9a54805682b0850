/** The VA-VAE training losses: reconstruction (L1 + LPIPS), KL, PatchGAN, VF alignment, adaptive weights. */
export * from './adversarial.js';
export * from './discriminator.js';
export * from './lpips.js';
export * from './vf.js';
export * from './vavae-loss.js';
