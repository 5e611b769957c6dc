package dev.soma.backend.cuda;

import dev.soma.errors.NativeException;
import dev.soma.jni.CudaKernels;
import org.bytedeco.cuda.global.cudart;

/** Turns the status codes of our kernels and of cudart calls into {@link NativeException}s that say what failed. */
final class CudaStatus {
    private CudaStatus() {}

    /** Throws when {@code status != 0}; {@code what} names the kernel, op, shapes and device. */
    static void check(int status, String what) {
        if (status != 0) {
            throw new NativeException(what + " failed on the GPU: " + CudaKernels.soma_cuda_status_string(status)
                    + " (CUDA error " + status + ")");
        }
    }

    /** As {@link #check} for a cudart call made through the JavaCPP preset. */
    static void checkRuntime(int status, String what) {
        if (status != 0) {
            throw new NativeException(what + " failed: " + cudart.cudaGetErrorString(status).getString()
                    + " (CUDA error " + status + ")");
        }
    }
}
