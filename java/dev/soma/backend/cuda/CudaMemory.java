package dev.soma.backend.cuda;

import dev.soma.backend.MemoryKernels;
import dev.soma.jni.CudaKernels;
import dev.soma.tensor.Tensor;
import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.Pointer;

import java.util.Arrays;

/**
 * Device fills, copies and casts through cuda-kernels/copy.cu; host transfers through soma_cuda_memcpy on the
 * legacy default stream (synchronous, so a read sees every kernel enqueued before it).
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
        try (FloatPointer host = new FloatPointer(data)) {
            toDevice(dst, host, 4L * data.length);
        }
    }

    @Override
    public void write(Tensor dst, double[] data) {
        try (DoublePointer host = new DoublePointer(data)) {
            toDevice(dst, host, 8L * data.length);
        }
    }

    @Override
    public void write(Tensor dst, int[] data) {
        try (IntPointer host = new IntPointer(data)) {
            toDevice(dst, host, 4L * data.length);
        }
    }

    @Override
    public void read(Tensor src, float[] out) {
        if (out.length == 0) return;
        try (FloatPointer host = new FloatPointer(out.length)) {
            toHost(src, host, 4L * out.length);
            host.get(out);
        }
    }

    @Override
    public void read(Tensor src, double[] out) {
        if (out.length == 0) return;
        try (DoublePointer host = new DoublePointer(out.length)) {
            toHost(src, host, 8L * out.length);
            host.get(out);
        }
    }

    @Override
    public void read(Tensor src, int[] out) {
        if (out.length == 0) return;
        try (IntPointer host = new IntPointer(out.length)) {
            toHost(src, host, 4L * out.length);
            host.get(out);
        }
    }

    private void toDevice(Tensor dst, Pointer host, long bytes) {
        if (bytes == 0) return;
        backend.bind();
        CudaStatus.runtime(CudaKernels.soma_cuda_memcpy(dst.address(), host.address(), bytes, CudaKernels.HOST_TO_DEVICE),
                "soma_cuda_memcpy", () -> "copy of " + bytes + " bytes from the host into " + dst.describe());
    }

    private void toHost(Tensor src, Pointer host, long bytes) {
        backend.bind();
        CudaStatus.runtime(CudaKernels.soma_cuda_memcpy(host.address(), src.address(), bytes, CudaKernels.DEVICE_TO_HOST),
                "soma_cuda_memcpy", () -> "copy of " + bytes + " bytes from " + src.describe() + " to the host");
    }
}
