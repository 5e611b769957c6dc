package dev.soma.backend.cuda;

import dev.soma.backend.RandomKernels;
import dev.soma.jni.CudaKernels;
import dev.soma.tensor.Tensor;

/**
 * Philox random fills on CUDA (cuda-kernels/random.cu): the same values as the CPU backend bit for bit, for every
 * seed, stream, size and distribution (both compute through native/include/soma_random_values.h).
 */
final class CudaRandom implements RandomKernels {
    private final CudaBackend backend;

    CudaRandom(CudaBackend backend) {
        this.backend = backend;
    }

    @Override
    public void fill(Distribution dist, Tensor out, long seed, long stream, double a, double b) {
        backend.bind();
        int status = CudaKernels.soma_cuda_random(dist.code, out.dtype().code(), out.address(), out.numel(), seed,
                stream, a, b, backend.stream());
        CudaStatus.kernel(status, "soma_cuda_random", () -> dist + " fill of " + out.describe() + " (seed " + seed
                + ", stream " + stream + ")");
    }
}
