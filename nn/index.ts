/**
 * Neural-network building blocks on the engine: Module (PyTorch's key names), layers, initialisers, optimisers,
 * EMA, gradient clipping and learning-rate schedules.
 */
export * from './module.js';
export * from './parameter.js';
export * from './inplace.js';
export * as init from './init.js';
export * from './layers/index.js';
export * from './optim/index.js';
export * from './ema.js';
export * from './clip.js';
export * from './schedule.js';
