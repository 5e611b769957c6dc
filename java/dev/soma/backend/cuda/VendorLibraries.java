package dev.soma.backend.cuda;

import dev.soma.backend.CudaProbe;
import org.bytedeco.cuda.cudart.CUstream_st;
import org.bytedeco.cuda.global.cublas;
import org.bytedeco.cuda.global.cudart;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.Pointer;

/**
 * Whether cuBLAS and cuDNN (through the JavaCPP cuda preset, whose JNI is precompiled) load in this process,
 * asked at most once each: a failed preset load leaves its classes unusable for the life of the JVM, so the
 * reason is kept and never retried. On the emulated device nothing is loaded. Also the two small bridges from
 * our raw handles to the preset's types.
 */
final class VendorLibraries {
    private static volatile String cublasProblem;
    private static volatile boolean cublasAsked;

    private VendorLibraries() {}

    /** Why cuBLAS cannot be used here (null: it loaded). */
    static String cublasProblem() {
        if (!cublasAsked) {
            synchronized (VendorLibraries.class) {
                if (!cublasAsked) {
                    cublasProblem = loadCublas();
                    cublasAsked = true;
                }
            }
        }
        return cublasProblem;
    }

    private static String loadCublas() {
        if (CudaProbe.result().emulated()) return "emulated device";
        try {
            Loader.load(cublas.class);
            return null;
        } catch (Throwable t) {
            return t.getClass().getSimpleName() + ": " + firstLine(t.getMessage());
        }
    }

    /** Why cuDNN cannot be used here (null: it loaded); {@link CudaProbe#cudnnVersion} loads it once. */
    static String cudnnProblem() {
        if (CudaProbe.result().emulated()) return "emulated device";
        String v = CudaProbe.cudnnVersion();
        return !v.isEmpty() && Character.isDigit(v.charAt(0)) ? null : v;
    }

    /**
     * Makes {@code device} current for the preset's runtime on this thread. Our kernel library may carry its
     * own runtime instance; both share the device's primary context, so this is cheap and keeps them agreeing.
     */
    static void bind(int device) {
        int status = cudart.cudaSetDevice(device);
        if (status != 0) {
            throw new dev.soma.errors.NativeException("cudaSetDevice(" + device + ") for cuBLAS/cuDNN failed: "
                    + cudart.cudaGetErrorString(status).getString() + " (CUDA error " + status + ")");
        }
    }

    /** A raw device address as a preset pointer argument (no ownership: nothing is freed through it). */
    static Pointer at(long raw) {
        // (not named "address": inside the anonymous class that name is Pointer's field)
        return new Pointer() {
            {
                address = raw;
            }
        };
    }

    /** Our raw cudaStream_t (0: the legacy default stream) as the preset's stream type. */
    static CUstream_st stream(long raw) {
        return new CUstream_st(at(raw));
    }

    private static String firstLine(String s) {
        if (s == null) return "no message";
        int nl = s.indexOf('\n');
        return nl < 0 ? s : s.substring(0, nl);
    }
}
