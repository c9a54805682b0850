/** Rectified-flow transport for LightningDiT: the linear path, its training loss, CFG, and ODE sampling. */
export * from './path.js';
export * from './timesteps.js';
export * from './loss.js';
export * from './cfg.js';
export * from './ode.js';
export * from './sampler.js';
