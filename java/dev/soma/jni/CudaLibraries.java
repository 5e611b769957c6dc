package dev.soma.jni;

import org.bytedeco.javacpp.Loader;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;

/**
 * The CUDA kernel libraries that travel in the jar beside the JNI glue ({@code dev/soma/jni/<platform>/}):
 * {@value #REAL} (nvcc; present only when the build found nvcc) and {@value #EMULATED} (the same kernels on the
 * CPU emulator). Finds one as a file (JavaCPP extracts it to its cache when it sits in a jar) and opens it in
 * the dispatcher that {@link CudaKernels} links.
 */
public final class CudaLibraries {
    public static final String REAL = "libsoma_cuda_nv.so";
    public static final String EMULATED = "libsoma_cuda_emu.so";
    /** The emulator itself, which {@value #EMULATED} loads from its own folder ($ORIGIN). */
    public static final String EMULATOR_RUNTIME = "libsoma_cuda_emu_rt.so";

    private CudaLibraries() {}

    /** The library as a file, or null when this build does not carry it. */
    public static File find(String fileName) throws IOException {
        if (fileName.equals(EMULATED) && cached(EMULATOR_RUNTIME) == null) return null;  // extracted beside it first
        return cached(fileName);
    }

    private static File cached(String fileName) throws IOException {
        return Loader.cacheResource(CudaKernels.class, Loader.getPlatform() + "/" + fileName);
    }

    /** Opens {@code library} in the dispatcher; the exception carries the dispatcher's reason (dlopen's text). */
    public static void open(File library) {
        CudaKernels.load();
        byte[] error = new byte[2048];
        if (CudaKernels.soma_cuda_open(library.getAbsolutePath(), error, error.length) != 0) {
            throw new IllegalStateException(cString(error));
        }
    }

    /** The NUL-terminated text at the start of {@code bytes}. */
    public static String cString(byte[] bytes) {
        int n = 0;
        while (n < bytes.length && bytes[n] != 0) n++;
        return new String(bytes, 0, n, StandardCharsets.UTF_8);
    }
}
