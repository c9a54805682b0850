/** The few ops the autograd engine itself needs (summing gradients, the default root gradient, copies). */
export { add } from '../ops/elementwise.js';
export { onesLike, zerosLike } from '../ops/creation.js';
export { clone } from '../ops/view.js';
