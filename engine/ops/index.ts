/** Every op family, loaded in one place so that the registry is complete before any op runs. */
export * from './creation.js';
export * from './elementwise.js';
export * from './reduce.js';
export * from './view.js';
export * from './shape.js';
