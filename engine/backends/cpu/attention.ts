import type { Kernel } from '../../backend.js';

/**
 * No fused kernel: on the CPU, scaled_dot_product_attention runs its composite definition (matmul, softmax),
 * which is the readable reference that fused kernels on other backends are checked against.
 */
export const attentionKernels: Record<string, Kernel> = {};
