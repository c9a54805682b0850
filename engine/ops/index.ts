/** Every op family, loaded in one place so that the registry is complete before any op runs. */
export * from './creation.js';
export * from './elementwise.js';
export * from './activation.js';
export * from './reduce.js';
export * from './view.js';
export * from './shape.js';
export * from './indexing.js';
export * from './matmul.js';
export * from './conv.js';
export * from './norm.js';
export * from './attention.js';
export * from './loss.js';
