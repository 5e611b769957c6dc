package dev.soma.backend.cuda;

import dev.soma.backend.CudaProbe;
import dev.soma.errors.NativeException;
import dev.soma.jni.CudaKernels;

import java.util.function.Supplier;

/**
 * Turns the status codes of our soma_cuda_* calls into {@link NativeException}s naming the function, the op,
 * the shapes and the device. With {@code -Dsoma.cuda.sync=true} (or {@code SOMA_CUDA_SYNC=1}) every kernel call
 * is followed by a device synchronisation, so a fault inside a kernel is reported by the call that caused it
 * rather than by a later, unrelated one.
 */
final class CudaStatus {
    /** The debug switch: synchronise after every kernel call. Read once. */
    static final boolean SYNC = CudaProbe.syncRequested();

    private CudaStatus() {}

    /**
     * After a kernel call: throws when {@code status != 0}, and under the sync switch also when the kernel fails
     * while running. {@code what} (built only on failure) names the op and shapes, e.g. "ADD of float32[2, 3]".
     */
    static void kernel(int status, String function, Supplier<String> what) {
        if (status != 0) {
            throw new NativeException(function + " " + what.get() + " failed on the GPU: " + text(status));
        }
        if (SYNC) {
            int s = CudaKernels.soma_cuda_device_synchronize();
            if (s != 0) {
                throw new NativeException(function + " " + what.get() + " failed on the GPU while running (found by "
                        + "soma.cuda.sync, which synchronises after every kernel): " + text(s));
            }
        }
    }

    /** After a runtime call (memory, copies, devices): throws when {@code status != 0}. */
    static void runtime(int status, String function, Supplier<String> what) {
        if (status != 0) throw new NativeException(function + " (" + what.get() + ") failed: " + text(status));
    }

    private static String text(int status) {
        return CudaKernels.soma_cuda_status_string(status) + " (CUDA error " + status + ")";
    }
}
