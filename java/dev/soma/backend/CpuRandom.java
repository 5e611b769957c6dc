package dev.soma.backend;

/** CPU implementation of {@link RandomKernels}. */
final class CpuRandom implements RandomKernels {
}
