package dev.soma.cuda;

import dev.soma.backend.Backend;
import dev.soma.backend.ElementwiseKernels.BiasActivation;
import dev.soma.backend.ElementwiseKernels.BinaryOp;
import dev.soma.backend.ElementwiseKernels.UnaryOp;
import dev.soma.memory.Scope;
import dev.soma.tensor.DType;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import dev.soma.backend.CudaProbe;
import dev.soma.jni.CudaKernels;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.Locale;

import static dev.soma.cuda.GpuTesting.*;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

/**
 * Memory bandwidth of the element-wise kernels on 64 Mi-element f32 tensors (768 MiB moved per binary launch),
 * printed as "BENCH name GB/s" lines that bench/gpu/check.sh collects; each result is also spot-checked.
 */
@Tag("gpu")
@ExtendWith(NoLeaks.class)
class CudaElementwiseBenchTest {
    private static final int N = 1 << 26;
    private static final int REPS = 20;

    @Test
    void elementwiseBandwidth() {
        Backend gpu = gpu();
        assumeFalse(CudaProbe.result().emulated(), "a bandwidth benchmark means nothing on the emulated device "
                + "(CPU fibers); it runs on a real GPU");
        long before = gpuLiveBytes();
        try (Scope s = Scope.open()) {
            Tensor a = Tensor.full(1.5, DType.F32, GPU, N);
            Tensor b = Tensor.full(2.0, DType.F32, GPU, N);
            Tensor row = Tensor.full(0.25, DType.F32, GPU, 8192);
            Tensor out = poisoned(DType.F32, N);
            report("add_f32_contiguous", 12.0 * N, () -> gpu.elementwise().binary(BinaryOp.ADD, a, b, out));
            assertEquals(3.5, last(out));
            Tensor a2 = a.reshape(N / 8192, 8192);
            Tensor out2 = poisoned(DType.F32, N / 8192, 8192);
            report("add_f32_broadcast_row", 8.0 * N, () -> gpu.elementwise().binary(BinaryOp.ADD, a2, row, out2));
            assertEquals(1.75, last(out2));
            report("gelu_f32", 8.0 * N, () -> gpu.elementwise().unary(UnaryOp.GELU, a, out, 0, 0));
            assertEquals(1.5 * 0.5 * (1 + erf(1.5 / Math.sqrt(2))), last(out), 1e-5);
            // Dense's epilogue: add + gelu as two passes (the two rows above: 16 bytes per element) against the
            // fused bias-gelu pass (8 bytes per element; the bias row stays in cache).
            report("bias_gelu_f32_fused", 8.0 * N,
                    () -> gpu.elementwise().biasActivation(BiasActivation.GELU, a2, row, out2, 0));
            assertEquals(1.75 * 0.5 * (1 + erf(1.75 / Math.sqrt(2))), last(out2), 1e-5);
            Tensor t = a.reshape(8192, N / 8192).transpose(0, 1);
            Tensor copy = Tensor.empty(DType.F32, GPU, N / 8192, 8192);
            report("transpose_copy_f32", 8.0 * N, () -> gpu.memory().copy(t, copy));
            assertEquals(1.5, last(copy));
        }
        assertNoGpuLeak(before);
    }

    private static void report(String name, double bytes, Runnable launch) {
        launch.run(); // warm-up
        assertEquals(0, CudaKernels.soma_cuda_device_synchronize());
        long t0 = System.nanoTime();
        for (int i = 0; i < REPS; i++) launch.run();
        assertEquals(0, CudaKernels.soma_cuda_device_synchronize());
        double seconds = (System.nanoTime() - t0) / 1e9 / REPS;
        System.out.println(String.format(Locale.ROOT, "BENCH %-24s %8.1f GB/s %9.3f ms", name, bytes / seconds / 1e9,
                seconds * 1e3));
    }

    /** Abramowitz-Stegun 7.1.26 is too coarse here: integrate the series, ample for one spot check. */
    private static double erf(double x) {
        double sum = 0;
        double term = x;
        for (int n = 0; n < 60; n++) {
            sum += term / (2 * n + 1);
            term *= -x * x / (n + 1);
        }
        return 2 / Math.sqrt(Math.PI) * sum;
    }
}
