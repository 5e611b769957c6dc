package dev.soma.cli;

import dev.soma.backend.Backends;
import dev.soma.backend.CudaProbe;
import dev.soma.memory.Scope;
import dev.soma.ops.Linalg;
import dev.soma.tensor.Device;
import dev.soma.tensor.Tensor;

/**
 * A device's practical ceilings, measured by the same engine that is being judged: GEMM peak as the best of
 * our own f32 matmul at 1024^3, copy bandwidth as the best of a 64 MiB tensor copy (bytes read + written).
 * They are what the achieved figures of {@code bench op} are divided by.
 */
record Ceilings(Device device, double gemmGflops, double copyGBps) {
    static final int GEMM_N = 1024;
    static final long COPY_ELEMENTS = 16L << 20; // 64 MiB of f32

    /** Null and a reason when the device cannot run the measurement. */
    static Ceilings measure(Device device, int repeats) {
        usable(device);
        try (Scope s = Scope.open()) {
            Tensor a = BenchOps.random(device, 1, GEMM_N, GEMM_N);
            Tensor b = BenchOps.random(device, 2, GEMM_N, GEMM_N);
            // Best of the repeats: on a shared host the best run is the one least disturbed by other work.
            DeviceTiming.Times gemm = DeviceTiming.time(device, () -> new Tensor[] {Linalg.matmul(a, b)}, 2, repeats);
            Tensor x = BenchOps.random(device, 3, COPY_ELEMENTS);
            DeviceTiming.Times copy = DeviceTiming.time(device, () -> new Tensor[] {x.copy()}, 2, repeats);
            return new Ceilings(device, 2.0 * GEMM_N * GEMM_N * GEMM_N / gemm.min() / 1e9, 8.0 * COPY_ELEMENTS / copy.min() / 1e9);
        }
    }

    /** The reason of a DeviceException from {@link #usable}, without the "X is not usable: " prefix. */
    static String reason(Device device, String message) {
        String prefix = device + " is not usable: ";
        return message.startsWith(prefix) ? message.substring(prefix.length()) : message;
    }

    /** Throws DeviceException "device X is not usable: why" for a CUDA device that cannot be used here. */
    static void usable(Device device) {
        if (device.isCpu()) return;
        CudaProbe.Result r = CudaProbe.result();
        if (!r.usable()) throw new dev.soma.errors.DeviceException(device + " is not usable: " + r.reason());
        Backends.get(device);
    }
}
