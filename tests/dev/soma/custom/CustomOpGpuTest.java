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
import dev.soma.testing.UsableGpu;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.SplittableRandom;

import static dev.soma.custom.CustomOpTest.assertMessage;
import static org.junit.jupiter.api.Assertions.*;

/**
 * Custom ops on a GPU: compiled kernels against the CPU implementations (fresh random inputs each run), the
 * compiler's log on a compile error, the module cache, launch-plan errors naming the kernel, backward on the GPU,
 * dynamic shared memory with warp shuffles. On a real device the kernels go through NVRTC; on the emulated one
 * (the gpu-emulated Surefire execution) through the host compiler and the emulator (EmulatedModules).
 * Skips without a usable CUDA device.
 */
@Tag("gpu")
@ExtendWith(NoLeaks.class)
class CustomOpGpuTest {
    private static final Device GPU = Device.cuda(0);
    private final SplittableRandom random = new SplittableRandom();
    private long gpuLiveBefore = -1;

    @BeforeEach
    void needsGpu() {
        UsableGpu.required();
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

    private static boolean emulated() {
        return CudaProbe.result().emulated();
    }

    private static int compilations() {
        return emulated() ? EmulatedModules.compilations() : NvrtcModules.compilations();
    }

    @Test
    void compileErrorsCarryTheCompilersLogWithLineNumbers() {
        String source = "extern \"C\" __global__ void broken(const float* x, float* y, long long n) {\n"
                + "    y[0] = undefined_name;\n}\n";
        CustomOp op = CustomOp.builder("broken_op").arity(1).output(in -> OutputSpec.of(in[0].dtype(), in[0].shape()))
                .cpu((CpuKernel.Host) (in, out) -> {})
                .cuda(CudaKernel.of(source, "broken", (in, out) -> Launch.linear(in[0].numel(), 128, in[0].numel())))
                .build();
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.zeros(DType.F32, GPU, 4);
            CudaCompileException e = assertThrows(CudaCompileException.class, () -> op.apply(x));
            // NVRTC: "broken_op.cu(2): error: ..."; the host compiler: "broken_op.cu:2:12: error: ...".
            assertTrue(e.log().contains(emulated() ? "broken_op.cu:2:" : "broken_op.cu(2)"), e.log());
            assertTrue(e.log().contains("undefined_name"), e.log());
            assertMessage(e, "broken_op", emulated() ? "host compiler" : "NVRTC");
        }
    }

    @Test
    void modulesAreCachedPerDeviceAndSource() {
        try (Scope s = Scope.open()) {
            Tensor x = toGpu(gaussian(DType.F32, 1, 100));
            FusedSilu.silu(x);
            int after = compilations();
            FusedSilu.silu(x);
            FusedSilu.BACKWARD.apply(x, x); // the same source and kernel list: the same module
            assertEquals(after, compilations());
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

    /** Row sums: dynamic shared memory declared the usual way (in the kernel and at namespace scope) and shuffles. */
    static final String ROW_SUM_SOURCE = """
            extern __shared__ double partial_f64[];   // at namespace scope, as older CUDA code declares it

            __device__ float warp_sum(float v) {
                for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
                return v;
            }

            // One block per row, blockDim.x a multiple of 32; shared: one value per warp.
            extern "C" __global__ void row_sum_f32(const float* x, float* out, int cols) {
                extern __shared__ __align__(16) float partial[];
                const float* row = x + (long long) blockIdx.x * cols;
                float v = 0.f;
                for (int c = threadIdx.x; c < cols; c += blockDim.x) v += row[c];
                v = warp_sum(v);
                int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
                if (lane == 0) partial[warp] = v;
                __syncthreads();
                if (warp == 0) {
                    v = lane < blockDim.x / 32 ? partial[lane] : 0.f;
                    v = warp_sum(v);
                    if (lane == 0) out[blockIdx.x] = v;
                }
            }

            extern "C" __global__ void row_sum_f64(const double* x, double* out, int cols) {
                const double* row = x + (long long) blockIdx.x * cols;
                double v = 0;
                for (int c = threadIdx.x; c < cols; c += blockDim.x) v += row[c];
                for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
                int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
                if (lane == 0) partial_f64[warp] = v;
                __syncthreads();
                if (threadIdx.x == 0) {
                    double total = 0;
                    for (int w = 0; w < blockDim.x / 32; w++) total += partial_f64[w];
                    out[blockIdx.x] = total;
                }
            }
            """;

    static final CustomOp ROW_SUM = CustomOp.builder("row_sum").arity(1)
            .output(in -> OutputSpec.of(in[0].dtype(), new long[] {in[0].size(0)}))
            .cpu((CpuKernel.Host) (in, out) -> {
                int cols = (int) in[0].size(1);
                for (int r = 0; r < out[0].length(); r++) {
                    double acc = 0;
                    for (int c = 0; c < cols; c++) acc += in[0].get(r * cols + c);
                    out[0].set(r, acc);
                }
            })
            .cuda(CudaKernel.of(ROW_SUM_SOURCE, java.util.List.of("row_sum_f32", "row_sum_f64"),
                    (in, out) -> in[0].dtype() == DType.F32 ? "row_sum_f32" : "row_sum_f64",
                    (in, out) -> new Launch(new int[] {(int) in[0].size(0)}, new int[] {128},
                            128 / 32 * in[0].dtype().byteSize(), new Object[] {(int) in[0].size(1)})))
            .build();

    @Test
    void dynamicSharedMemoryAndShufflesInACustomKernel() {
        try (Scope s = Scope.open()) {
            for (int[] c : new int[][] {{1, 1}, {37, 1000}, {5, 4099}}) {
                Backends.Comparison f = Backends.compare(ROW_SUM, gaussian(DType.F32, 1, c[0], c[1]));
                assertTrue(f.within(1e-5), f::toString);
                Backends.Comparison d = Backends.compare(ROW_SUM, gaussian(DType.F64, 1, c[0], c[1]));
                assertTrue(d.within(1e-12), d::toString);
            }
        }
    }
}
