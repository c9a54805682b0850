/** Vision foundation encoders for VA-VAE's alignment loss: DINOv2 ViTs (timm layout) and the wrapper the VF loss uses. */
export * from './resample.js';
export * from './vit.js';
export * from './aux.js';
export * from './mnist-classifier.js';
