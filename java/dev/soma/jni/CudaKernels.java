package dev.soma.jni;

import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.annotation.Cast;
import org.bytedeco.javacpp.annotation.Platform;

/**
 * JavaCPP binding of the CUDA half of {@code native/include/soma.h}. Loaded only by
 * {@code dev.soma.backend.CudaProbe} after a device has answered, so a CPU-only machine never touches it.
 * Device pointers travel as {@code long}; streams as {@code long} CUstream handles (0 = legacy default).
 * Every soma_cuda_* call returns a status (0 = success) that the caller turns into a SomaException.
 */
@Platform(include = "soma.h", link = "soma_cuda")
public final class CudaKernels {
    private CudaKernels() {}

    public static void load() {
        Loader.load();
    }

    public static native int soma_cuda_built();
    public static native @Cast("const char*") String soma_cuda_build_info();
    public static native @Cast("const char*") String soma_cuda_status_string(int status);

    // ---------------- elementwise (cuda-kernels/elementwise.cu) ----------------
    public static native int soma_cuda_binary(int op, int dtype, int ndim, @Cast("const int64_t*") long[] shape,
            @Cast("const void*") long a, @Cast("const int64_t*") long[] aStrides,
            @Cast("const void*") long b, @Cast("const int64_t*") long[] bStrides,
            @Cast("void*") long out, @Cast("void*") long stream);
    public static native int soma_cuda_unary(int op, int dtype, @Cast("int64_t") long n, @Cast("const void*") long x,
            @Cast("void*") long out, double p0, double p1, @Cast("void*") long stream);
    public static native int soma_cuda_unary_backward(int op, int dtype, @Cast("int64_t") long n,
            @Cast("const void*") long x, @Cast("const void*") long y, @Cast("const void*") long gradOut,
            @Cast("void*") long gradIn, double p0, double p1, @Cast("void*") long stream);
    public static native int soma_cuda_where(int dtype, int ndim, @Cast("const int64_t*") long[] shape,
            @Cast("const void*") long cond, @Cast("const int64_t*") long[] cStrides,
            @Cast("const void*") long a, @Cast("const int64_t*") long[] aStrides,
            @Cast("const void*") long b, @Cast("const int64_t*") long[] bStrides,
            @Cast("void*") long out, @Cast("void*") long stream);

    // ---------------- memory and copies (cuda-kernels/copy.cu) ----------------
    public static native int soma_cuda_fill(int dtype, @Cast("void*") long dst, @Cast("int64_t") long n, double value,
            @Cast("void*") long stream);
    public static native int soma_cuda_strided_copy(int dtype, int ndim, @Cast("const int64_t*") long[] shape,
            @Cast("const void*") long src, @Cast("const int64_t*") long[] srcStrides,
            @Cast("void*") long dst, @Cast("const int64_t*") long[] dstStrides, @Cast("void*") long stream);
    public static native int soma_cuda_cast(int srcDtype, @Cast("const void*") long src, int dstDtype,
            @Cast("void*") long dst, @Cast("int64_t") long n, @Cast("void*") long stream);
    public static native int soma_cuda_axpy(int dtype, @Cast("int64_t") long n, double alpha,
            @Cast("const void*") long x, @Cast("void*") long y, @Cast("void*") long stream);
}
