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
}
