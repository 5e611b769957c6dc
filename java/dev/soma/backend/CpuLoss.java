package dev.soma.backend;

/** CPU implementation of {@link LossKernels}. */
final class CpuLoss implements LossKernels {
}
