import type { Kernel } from '../../backend.js';

export const convKernels: Record<string, Kernel> = {};
