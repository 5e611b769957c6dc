package dev.soma.backend;

/** Fused loss kernels (softmax + cross-entropy and friends). */
public interface LossKernels {
}
