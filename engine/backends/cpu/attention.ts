import type { Kernel } from '../../backend.js';

/**
 * No fused kernels: on the CPU, scaled_dot_product_attention and scaled_dot_product_attention_backward run
 * their composite definitions (matmul, softmax), the readable reference that fused kernels on other backends
 * are checked against, and autograd through them gives exact higher-order gradients.
 */
export const attentionKernels: Record<string, Kernel> = {};
