export * from './gradcheck.js';
