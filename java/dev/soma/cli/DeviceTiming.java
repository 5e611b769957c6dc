package dev.soma.cli;

import dev.soma.autograd.GradMode;
import dev.soma.memory.Scope;
import dev.soma.tensor.Device;
import dev.soma.tensor.Tensor;

import java.util.Arrays;

/**
 * Wall-clock timing of one call, repeated: warm-up calls first, then each timed call in its own scope (so the
 * pool recycles the outputs) and, on a GPU, followed by a device synchronisation so the time covers the kernels.
 */
final class DeviceTiming {
    /** Seconds per timed call, sorted. */
    record Times(double[] seconds) {
        double median() {
            int n = seconds.length;
            return n % 2 == 1 ? seconds[n / 2] : (seconds[n / 2 - 1] + seconds[n / 2]) / 2;
        }

        double min() {
            return seconds[0];
        }

        double max() {
            return seconds[seconds.length - 1];
        }
    }

    private DeviceTiming() {}

    static Times time(Device device, java.util.function.Supplier<Tensor[]> call, int warmup, int repeats) {
        if (warmup < 0 || repeats < 1) throw new IllegalArgumentException("bench: warmup must be >= 0 and repeats >= 1");
        double[] s = new double[repeats];
        try (GradMode.Guard g = GradMode.disable()) {
            for (int i = 0; i < warmup; i++) {
                try (Scope scope = Scope.open()) {
                    call.get();
                    sync(device);
                }
            }
            for (int i = 0; i < repeats; i++) {
                try (Scope scope = Scope.open()) {
                    long t0 = System.nanoTime();
                    call.get();
                    sync(device);
                    s[i] = (System.nanoTime() - t0) / 1e9;
                }
            }
        }
        Arrays.sort(s);
        return new Times(s);
    }

    /** Waits for the GPU (no-op on the CPU: CPU kernels return when done). */
    static void sync(Device device) {
        if (device.isCpu()) return;
        int status = dev.soma.jni.CudaKernels.soma_cuda_device_synchronize();
        if (status != 0) {
            throw new dev.soma.errors.NativeException("bench: the GPU reported an error while waiting for " + device + ": "
                    + dev.soma.jni.CudaKernels.soma_cuda_status_string(status));
        }
    }
}
