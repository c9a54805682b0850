import type { Kernel } from '../../backend.js';

export const attentionKernels: Record<string, Kernel> = {};
