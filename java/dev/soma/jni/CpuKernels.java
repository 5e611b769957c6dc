package dev.soma.jni;

import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.annotation.Cast;
import org.bytedeco.javacpp.annotation.Platform;

/**
 * JavaCPP binding of the CPU half of {@code native/include/soma.h}. Raw addresses travel as {@code long};
 * Java arrays travel pinned for the length of one call. Nothing here validates: callers in
 * {@code dev.soma.backend} do, before every call. Use {@link NativeLibraries#cpu()} to load.
 */
@Platform(include = "soma.h", link = "soma_cpu")
public final class CpuKernels {
    private CpuKernels() {}

    static void load() {
        Loader.load();
    }

    // ---------------- memory and copies (native/src/memory.cpp) ----------------
    public static native @Cast("void*") long soma_cpu_alloc(@Cast("size_t") long bytes, @Cast("size_t") long alignment);
    public static native void soma_cpu_free(@Cast("void*") long p);
    public static native void soma_cpu_copy(@Cast("void*") long dst, @Cast("const void*") long src, @Cast("size_t") long bytes);
    @org.bytedeco.javacpp.annotation.Name("soma_cpu_copy")
    public static native void copyFromFloats(@Cast("void*") long dst, @Cast("const void*") float[] src, @Cast("size_t") long bytes);
    @org.bytedeco.javacpp.annotation.Name("soma_cpu_copy")
    public static native void copyFromDoubles(@Cast("void*") long dst, @Cast("const void*") double[] src, @Cast("size_t") long bytes);
    @org.bytedeco.javacpp.annotation.Name("soma_cpu_copy")
    public static native void copyFromInts(@Cast("void*") long dst, @Cast("const void*") int[] src, @Cast("size_t") long bytes);
    @org.bytedeco.javacpp.annotation.Name("soma_cpu_copy")
    public static native void copyToFloats(@Cast("void*") float[] dst, @Cast("const void*") long src, @Cast("size_t") long bytes);
    @org.bytedeco.javacpp.annotation.Name("soma_cpu_copy")
    public static native void copyToDoubles(@Cast("void*") double[] dst, @Cast("const void*") long src, @Cast("size_t") long bytes);
    @org.bytedeco.javacpp.annotation.Name("soma_cpu_copy")
    public static native void copyToInts(@Cast("void*") int[] dst, @Cast("const void*") long src, @Cast("size_t") long bytes);
    public static native void soma_cpu_fill(int dtype, @Cast("void*") long dst, @Cast("int64_t") long n, double value);
    public static native void soma_cpu_strided_copy(int dtype, int ndim, @Cast("const int64_t*") long[] shape,
            @Cast("const void*") long src, @Cast("const int64_t*") long[] srcStrides,
            @Cast("void*") long dst, @Cast("const int64_t*") long[] dstStrides);
    public static native void soma_cpu_cast(int srcDtype, @Cast("const void*") long src, int dstDtype,
            @Cast("void*") long dst, @Cast("int64_t") long n);
    public static native void soma_cpu_axpy(int dtype, @Cast("int64_t") long n, double alpha,
            @Cast("const void*") long x, @Cast("void*") long y);
    public static native int soma_cpu_threads();

    // ---------------- random numbers (native/src/random.cpp) ----------------

    // ---------------- elementwise (native/src/elementwise.cpp) ----------------

    // ---------------- reductions and softmax (native/src/reduce.cpp) ----------------
    public static native void soma_cpu_reduce_rows(int op, int dtype, @Cast("int64_t") long rows, @Cast("int64_t") long cols,
            @Cast("const void*") long in, @Cast("void*") long out);

    // ---------------- losses (native/src/loss.cpp) ----------------

    // ---------------- linear algebra helpers (native/src/linalg.cpp) ----------------
    public static native void soma_cpu_matmul(int dtype, int batchNdim, @Cast("const int64_t*") long[] batchShape,
            @Cast("int64_t") long m, @Cast("int64_t") long n, @Cast("int64_t") long k,
            @Cast("const void*") long a, @Cast("const int64_t*") long[] aStrides,
            @Cast("const void*") long b, @Cast("const int64_t*") long[] bStrides, @Cast("void*") long out);
}
