package dev.soma.backend;

/** CPU implementation of {@link LinalgKernels}. */
final class CpuLinalg implements LinalgKernels {
}
