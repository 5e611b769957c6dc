package dev.soma.backend.cuda;

import dev.soma.backend.MemoryKernels;
import dev.soma.jni.CudaKernels;
import dev.soma.tensor.Tensor;
import dev.soma.jni.CpuKernels;
import dev.soma.memory.CachingPool;

import java.util.Arrays;
import java.util.function.LongConsumer;

/**
 * Device fills, copies and casts through cuda-kernels/copy.cu; host transfers through pinned staging buffers and
 * asynchronous copies on the backend's current stream (a write does not wait; a read waits for its stream, so it
 * sees every kernel enqueued before it).
 */
final class CudaMemory implements MemoryKernels {
    private final CudaBackend backend;

    CudaMemory(CudaBackend backend) {
        this.backend = backend;
    }

    @Override
    public void fill(Tensor dst, double value) {
        backend.bind();
        CudaStatus.kernel(CudaKernels.soma_cuda_fill(dst.dtype().code(), dst.address(), dst.numel(), value,
                backend.stream()), "soma_cuda_fill", () -> "of " + dst.describe() + " with " + value);
    }

    @Override
    public void copy(Tensor src, Tensor dst) {
        backend.bind();
        CudaStatus.kernel(CudaKernels.soma_cuda_strided_copy(src.dtype().code(), src.ndim(), src.shape(), src.address(),
                src.strides(), dst.address(), dst.strides(), backend.stream()), "soma_cuda_strided_copy",
                () -> "of " + src.describe() + " (strides " + Arrays.toString(src.strides()) + ") into strides "
                        + Arrays.toString(dst.strides()));
    }

    @Override
    public void cast(Tensor src, Tensor dst) {
        backend.bind();
        CudaStatus.kernel(CudaKernels.soma_cuda_cast(src.dtype().code(), src.address(), dst.dtype().code(), dst.address(),
                src.numel(), backend.stream()), "soma_cuda_cast", () -> "of " + src.describe() + " to " + dst.dtype());
    }

    @Override
    public void accumulate(Tensor dst, Tensor src) {
        if (src.isContiguous()) {
            axpy(dst, src);
            return;
        }
        try (Tensor c = Tensor.empty(src.dtype(), src.device(), src.shape()).keep()) {
            copy(src, c);
            axpy(dst, c);
        }
    }

    private void axpy(Tensor dst, Tensor src) {
        backend.bind();
        CudaStatus.kernel(CudaKernels.soma_cuda_axpy(dst.dtype().code(), dst.numel(), 1.0, src.address(), dst.address(),
                backend.stream()), "soma_cuda_axpy", () -> "accumulating " + src.describe() + " into " + dst.describe());
    }

    @Override
    public void write(Tensor dst, float[] data) {
        long bytes = 4L * data.length;
        upload(dst, bytes, staging -> CpuKernels.copyFromFloats(staging, data, bytes));
    }

    @Override
    public void write(Tensor dst, double[] data) {
        long bytes = 8L * data.length;
        upload(dst, bytes, staging -> CpuKernels.copyFromDoubles(staging, data, bytes));
    }

    @Override
    public void write(Tensor dst, int[] data) {
        long bytes = 4L * data.length;
        upload(dst, bytes, staging -> CpuKernels.copyFromInts(staging, data, bytes));
    }

    @Override
    public void read(Tensor src, float[] out) {
        long bytes = 4L * out.length;
        download(src, bytes, staging -> CpuKernels.copyToFloats(out, staging, bytes));
    }

    @Override
    public void read(Tensor src, double[] out) {
        long bytes = 8L * out.length;
        download(src, bytes, staging -> CpuKernels.copyToDoubles(out, staging, bytes));
    }

    @Override
    public void read(Tensor src, int[] out) {
        long bytes = 4L * out.length;
        download(src, bytes, staging -> CpuKernels.copyToInts(out, staging, bytes));
    }

    /**
     * Host array to device: the array goes into a pinned staging block, which is copied on the current stream
     * without waiting; the block is reused only after that copy has run (the pool's stream guard).
     */
    private void upload(Tensor dst, long bytes, LongConsumer fillStaging) {
        if (bytes == 0) return;
        backend.bind();
        long stream = backend.stream();
        CachingPool pinned = backend.pinned();
        CachingPool.Block staging = pinned.allocate(bytes, CudaBackend.HOST);
        try {
            fillStaging.accept(staging.address());
            CudaStatus.runtime(CudaKernels.soma_cuda_memcpy_async(dst.address(), staging.address(), bytes,
                    CudaKernels.HOST_TO_DEVICE, stream), "soma_cuda_memcpy_async",
                    () -> "copy of " + bytes + " bytes from the host into " + dst.describe());
            pinned.recordStream(staging, stream);
        } finally {
            pinned.release(staging);
        }
    }

    /** Device to host array: copied into a pinned staging block on the current stream, which the host waits for. */
    private void download(Tensor src, long bytes, LongConsumer drainStaging) {
        if (bytes == 0) return;
        backend.bind();
        long stream = backend.stream();
        CachingPool pinned = backend.pinned();
        CachingPool.Block staging = pinned.allocate(bytes, CudaBackend.HOST);
        try {
            CudaStatus.runtime(CudaKernels.soma_cuda_memcpy_async(staging.address(), src.address(), bytes,
                    CudaKernels.DEVICE_TO_HOST, stream), "soma_cuda_memcpy_async",
                    () -> "copy of " + bytes + " bytes from " + src.describe() + " to the host");
            backend.streams().synchronize(stream);
            drainStaging.accept(staging.address());
        } finally {
            pinned.release(staging);
        }
    }
}
