import type { Kernel } from '../../backend.js';

export const matmulKernels: Record<string, Kernel> = {};
