package dev.soma.backend;

import dev.soma.jni.CpuKernels;
import dev.soma.tensor.Tensor;

/** Philox random fills through native/src/random.cpp. */
final class CpuRandom implements RandomKernels {
    @Override
    public void fill(Distribution dist, Tensor out, long seed, long stream, double a, double b) {
        CpuKernels.soma_cpu_random(dist.code, out.dtype().code(), out.address(), out.numel(), seed, stream, a, b);
    }
}
