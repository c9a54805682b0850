import type { Kernel } from '../../backend.js';

export const normKernels: Record<string, Kernel> = {};
