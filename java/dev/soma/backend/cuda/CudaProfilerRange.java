package dev.soma.backend.cuda;

import dev.soma.backend.Backends;
import dev.soma.jni.CudaKernels;
import dev.soma.tensor.Device;

/**
 * Steps run between cudaProfilerStart and cudaProfilerStop, so that a profiler started with
 * {@code --profile-from-start off} (Nsight Compute's {@code ncu}) records exactly these kernels and not the warm-up,
 * the algorithm searches or the timed loop. bench/gpu/ncu-steps.sh reads the per-kernel GPU times it records.
 */
public final class CudaProfilerRange {
    private CudaProfilerRange() {}

    /** How many steps {@code -Dsoma.cuda.profilerSteps=N} asks for (0: none, the default). */
    public static int requestedSteps() {
        return Integer.getInteger("soma.cuda.profilerSteps", 0);
    }

    /** Runs {@code step} {@code steps} times inside one profiler range on {@code device}'s stream (waited for). */
    public static void run(Device device, int steps, Runnable step) {
        if (steps <= 0) return;
        if (device.isCpu()) {
            throw new IllegalArgumentException("CUDA profiler range: asked for on " + device + ", a CUDA device expected");
        }
        CudaBackend backend = (CudaBackend) Backends.get(device);
        long stream = backend.currentStream();
        CudaStatus.runtime(CudaKernels.soma_cuda_stream_synchronize(stream), "soma_cuda_stream_synchronize", () -> "");
        CudaStatus.runtime(CudaKernels.soma_cuda_profiler_range(1), "soma_cuda_profiler_range", () -> "start");
        try {
            for (int i = 0; i < steps; i++) step.run();
            CudaStatus.runtime(CudaKernels.soma_cuda_stream_synchronize(stream), "soma_cuda_stream_synchronize",
                    () -> "");
        } finally {
            CudaKernels.soma_cuda_profiler_range(0);
        }
    }
}
