package dev.soma.backend;

/** Matrix products. */
public interface LinalgKernels {
}
