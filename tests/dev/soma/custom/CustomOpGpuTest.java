package dev.soma.custom;

import dev.soma.autograd.Autograd;
import dev.soma.backend.CudaProbe;
import dev.soma.custom.examples.FusedSilu;
import dev.soma.custom.examples.RowTopK;
import dev.soma.errors.DeviceException;
import dev.soma.memory.Scope;
import dev.soma.tensor.DType;
import dev.soma.tensor.Device;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.SplittableRandom;

import static dev.soma.custom.CustomOpTest.assertMessage;
import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeFalse;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Custom ops on a GPU: NVRTC-compiled kernels against the CPU implementations (fresh random inputs each run),
 * NVRTC's log on a compile error, the module cache, launch-plan errors naming the kernel, backward on the GPU.
 * Skips without a usable CUDA device (and NVRTC).
 */
@Tag("gpu")
@ExtendWith(NoLeaks.class)
class CustomOpGpuTest {
    private static final Device GPU = Device.cuda(0);
    private final SplittableRandom random = new SplittableRandom();
    private long gpuLiveBefore = -1;

    @BeforeEach
    void needsGpu() {
        CudaProbe.Result r = CudaProbe.result();
        assumeTrue(r.usable(), () -> "no usable CUDA device: " + r.reason());
        assumeFalse(r.emulated(), "custom ops on the emulated device: see EmulatedModules");
        gpuLiveBefore = dev.soma.backend.Backends.get(GPU).pool().stats().allocatedBytes();
    }

    @org.junit.jupiter.api.AfterEach
    void noGpuLeak() {
        if (gpuLiveBefore < 0) return; // skipped: no GPU
        assertEquals(gpuLiveBefore, dev.soma.backend.Backends.get(GPU).pool().stats().allocatedBytes(),
                "live bytes in the CUDA pool changed (leak)");
    }

    private Tensor gaussian(DType dtype, double scale, long... shape) {
        int n = Math.toIntExact(java.util.Arrays.stream(shape).reduce(1, (a, b) -> a * b));
        double[] v = new double[n];
        for (int i = 0; i < n; i++) v[i] = random.nextGaussian() * scale;
        Tensor t = Tensor.of(v, shape);
        if (dtype == DType.F64) return t;
        Tensor f = t.to(dtype);
        t.close();
        return f;
    }

    private static Tensor toGpu(Tensor cpu) {
        Tensor t = Tensor.empty(cpu.dtype(), GPU, cpu.shape());
        if (cpu.dtype() == DType.F32) t.backend().memory().write(t, cpu.toFloatArray());
        else t.backend().memory().write(t, cpu.toDoubleArray());
        return t;
    }

    @Test
    void siluMatchesTheCpuInBothDtypesAndOddSizes() {
        try (Scope s = Scope.open()) {
            for (long n : new long[] {1, 255, 257, 1_000_003}) {
                Backends.Comparison f = Backends.compare(FusedSilu.OP, gaussian(DType.F32, 4, n));
                assertTrue(f.within(1e-5), f::toString);
                Backends.Comparison d = Backends.compare(FusedSilu.OP, gaussian(DType.F64, 4, n));
                assertTrue(d.within(1e-12), d::toString);
                Backends.Comparison b = Backends.compare(FusedSilu.BACKWARD, gaussian(DType.F32, 4, n), gaussian(DType.F32, 1, n));
                assertTrue(b.within(1e-5), b::toString);
            }
        }
    }

    @Test
    void siluBackwardRunsOnTheGpu() {
        try (Scope s = Scope.open()) {
            Tensor xc = gaussian(DType.F64, 3, 64, 33);
            Tensor gc = gaussian(DType.F64, 1, 64, 33);
            Tensor x = toGpu(xc).setRequiresGrad(true);
            Tensor y = FusedSilu.silu(x);
            assertEquals(GPU, y.device());
            Autograd.backward(y, toGpu(gc));
            double[] got = x.grad().toDoubleArray();
            double[] ref = FusedSilu.BACKWARD.apply(xc, gc).toDoubleArray();
            assertTrue(Backends.relativeError(got, ref) <= 1e-12, "relative error " + Backends.relativeError(got, ref));
        }
    }

    @Test
    void topkMatchesTheCpuIncludingTiesAndItsScatter() {
        try (Scope s = Scope.open()) {
            for (int[] c : new int[][] {{7, 5, 1}, {33, 1000, 8}, {4, 4096, 64}, {1, 300, 300}}) {
                int rows = c[0], cols = c[1], k = c[2];
                double[] v = new double[rows * cols];
                for (int i = 0; i < v.length; i++) v[i] = random.nextInt(-20, 21); // ties
                Tensor x = Tensor.of(v, rows, cols).to(DType.F32);
                Backends.Comparison t = Backends.compare(RowTopK.of(k), x);
                assertTrue(t.within(0), t::toString);
                Tensor idx = RowTopK.topk(x, k)[1];
                Backends.Comparison sc = Backends.compare(RowTopK.scatter(cols), gaussian(DType.F32, 1, rows, k), idx);
                assertTrue(sc.within(0), sc::toString);
            }
        }
    }

    @Test
    void compileErrorsCarryNvrtcsLogWithLineNumbers() {
        String source = "extern \"C\" __global__ void broken(const float* x, float* y, long long n) {\n"
                + "    y[0] = undefined_name;\n}\n";
        CustomOp op = CustomOp.builder("broken_op").arity(1).output(in -> OutputSpec.of(in[0].dtype(), in[0].shape()))
                .cpu((CpuKernel.Host) (in, out) -> {})
                .cuda(CudaKernel.of(source, "broken", (in, out) -> Launch.linear(in[0].numel(), 128, in[0].numel())))
                .build();
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.zeros(DType.F32, GPU, 4);
            CudaCompileException e = assertThrows(CudaCompileException.class, () -> op.apply(x));
            assertTrue(e.log().contains("broken_op.cu(2)"), e.log());
            assertTrue(e.log().contains("undefined_name"), e.log());
            assertMessage(e, "broken_op", "NVRTC");
        }
    }

    @Test
    void modulesAreCachedPerDeviceAndSource() {
        try (Scope s = Scope.open()) {
            Tensor x = toGpu(gaussian(DType.F32, 1, 100));
            FusedSilu.silu(x);
            int after = NvrtcModules.compilations();
            FusedSilu.silu(x);
            FusedSilu.BACKWARD.apply(x, x); // the same source and kernel list: the same module
            assertEquals(after, NvrtcModules.compilations());
        }
    }

    @Test
    void badLaunchPlansNameTheKernel() {
        CustomOp huge = CustomOp.builder("huge_block").arity(1).output(in -> OutputSpec.of(in[0].dtype(), in[0].shape()))
                .cpu((CpuKernel.Host) (in, out) -> {})
                .cuda(CudaKernel.of(FusedSilu.CUDA_SOURCE, java.util.List.of("silu_forward<float>"),
                        (in, out) -> "silu_forward<float>", (in, out) -> new Launch(new int[] {1}, new int[] {2048}, 0,
                                new Object[] {in[0].numel()})))
                .build();
        CustomOp cpuOnly = CustomOp.builder("cpu_only").arity(1).output(in -> OutputSpec.of(in[0].dtype(), in[0].shape()))
                .cpu((CpuKernel.Host) (in, out) -> {}).build();
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.zeros(DType.F32, GPU, 4);
            assertMessage(assertThrows(IllegalArgumentException.class, () -> huge.apply(x)), "huge_block",
                    "silu_forward<float>", "1024");
            assertMessage(assertThrows(DeviceException.class, () -> cpuOnly.apply(x)), "cpu_only", "no CUDA implementation");
        }
    }
}
