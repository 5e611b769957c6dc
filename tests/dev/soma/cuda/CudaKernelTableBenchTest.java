package dev.soma.cuda;

import dev.soma.backend.Backend;
import dev.soma.backend.CudaProbe;
import dev.soma.backend.ElementwiseKernels.BinaryOp;
import dev.soma.backend.ElementwiseKernels.UnaryOp;
import dev.soma.jni.CudaKernels;
import dev.soma.memory.Scope;
import dev.soma.ops.Attention;
import dev.soma.tensor.DType;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import org.bytedeco.cuda.cublas.cublasContext;
import org.bytedeco.cuda.cudart.CUstream_st;
import org.bytedeco.cuda.global.cublas;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.Pointer;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.Locale;

import static dev.soma.cuda.GpuTesting.*;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

/**
 * The kernel table of bench/gpu/check.sh: our kernels' throughput next to two references measured in the same run,
 * the device-to-device copy bandwidth (cudaMemcpyAsync) and cuBLAS SGEMM (called here directly through the JavaCPP
 * preset, whatever path our matmul takes). Lines: {@code KERNEL name value unit fraction-of-reference goal}.
 * Real GPUs only: timings of the emulated device mean nothing.
 */
@Tag("gpu")
@ExtendWith(NoLeaks.class)
class CudaKernelTableBenchTest {
    private static final int REPS = 20;

    @Test
    void kernelTable() {
        Backend gpu = gpu();
        assumeFalse(CudaProbe.result().emulated(), "timings of the emulated device mean nothing; runs on a real GPU");
        long before = gpuLiveBytes();
        try (Scope s = Scope.open()) {
            int n = 1 << 26;
            Tensor a = Tensor.full(1.5, DType.F32, GPU, n);
            Tensor b = Tensor.full(2.0, DType.F32, GPU, n);
            Tensor out = Tensor.empty(DType.F32, GPU, n);
            double copy = 8.0 * n / seconds(() -> status(CudaKernels.soma_cuda_memcpy_async(out.address(), a.address(),
                    4L * n, CudaKernels.DEVICE_TO_DEVICE, gpu.currentStream())));
            line("copy_d2d_f32", copy / 1e9, "GB/s", 1.0, "reference");
            bandwidth("add_f32", 12.0 * n, copy, () -> gpu.elementwise().binary(BinaryOp.ADD, a, b, out));
            assertEquals(3.5, last(out), 0.0);
            bandwidth("relu_f32", 8.0 * n, copy, () -> gpu.elementwise().unary(UnaryOp.RELU, a, out, 0, 0));
            bandwidth("gelu_f32", 8.0 * n, copy, () -> gpu.elementwise().unary(UnaryOp.GELU, a, out, 0, 0));
            Tensor rows = a.reshape(n / 4096, 4096);
            Tensor rowsOut = out.reshape(n / 4096, 4096);
            bandwidth("softmax_rows_4096_f32", 8.0 * n, copy,
                    () -> gpu.reductions().softmaxRows(false, rows, n / 4096, 4096, rowsOut));
        }
        try (Scope s = Scope.open(); Cublas blas = new Cublas(gpu.currentStream())) {
            int m = 4096;
            Tensor x = Tensor.randn(1, m, m).to(GPU);
            Tensor y = Tensor.randn(2, m, m).to(GPU);
            Tensor z = Tensor.empty(DType.F32, GPU, m, m);
            double flops = 2.0 * m * m * m;
            double peak = flops / seconds(() -> blas.gemm(m, m, m, x.address(), y.address(), z.address(), 1, 0, 0, 0));
            line("cublas_sgemm_4096", peak / 1e12, "TFLOP/s", 1.0, "reference");
            double ours = flops / seconds(() -> gpu.linalg().matmul(x, y, z));
            line("matmul_f32_4096", ours / 1e12, "TFLOP/s", ours / peak, "vendor path or ours: see matmulImplementation");

            // Attention forward, T = 2048, 8 heads of 64, batch 4: the same products through cuBLAS are the reference.
            int batch = 4, heads = 8, t = 2048, d = 64;
            Tensor q = Tensor.randn(3, batch, heads, t, d).to(GPU);
            Tensor k = Tensor.randn(4, batch, heads, t, d).to(GPU);
            Tensor v = Tensor.randn(5, batch, heads, t, d).to(GPU);
            Tensor scores = Tensor.empty(DType.F32, GPU, batch * heads, t, t);
            Tensor o = Tensor.empty(DType.F32, GPU, batch * heads, t, d);
            double attnFlops = 4.0 * batch * heads * t * (double) t * d;
            int bh = batch * heads;
            double products = attnFlops / seconds(() -> {
                // column-major view: scores^T = K Q^T, then o^T = V^T scores^T
                blas.gemm(t, t, d, k.address(), q.address(), scores.address(), bh, (long) t * d, (long) t * d, (long) t * t,
                        true, false);
                blas.gemm(d, t, t, v.address(), scores.address(), o.address(), bh, (long) t * d, (long) t * t, (long) t * d,
                        false, false);
            });
            line("cublas_attention_products", products / 1e12, "TFLOP/s", 1.0, "reference");
            double fused = attnFlops / seconds(() -> {
                try (Scope inner = Scope.open()) {
                    Attention.scaledDotProduct(q, k, v);
                }
            });
            line("attention_fwd_T2048_h8_d64", fused / 1e12, "TFLOP/s", fused / products, ">= 0.50 of the products");
        }
        assertNoGpuLeak(before);
    }

    private static void bandwidth(String name, double bytes, double copy, Runnable launch) {
        double rate = bytes / seconds(launch);
        line(name, rate / 1e9, "GB/s", rate / copy, ">= 0.80 of the copy");
    }

    private static double seconds(Runnable launch) {
        launch.run(); // warm-up (and the first call's one-time work)
        status(CudaKernels.soma_cuda_device_synchronize());
        long t0 = System.nanoTime();
        for (int i = 0; i < REPS; i++) launch.run();
        status(CudaKernels.soma_cuda_device_synchronize());
        return (System.nanoTime() - t0) / 1e9 / REPS;
    }

    private static void line(String name, double value, String unit, double fraction, String goal) {
        System.out.println(String.format(Locale.ROOT, "KERNEL %-28s %9.2f %-7s %6.2f  %s", name, value, unit, fraction, goal));
    }

    private static void status(int s) {
        assertEquals(0, s, () -> CudaKernels.soma_cuda_status_string(s));
    }

    /** cuBLAS SGEMM (strided batched) on raw device pointers, full f32 (no TF32), on our compute stream. */
    private static final class Cublas implements AutoCloseable {
        private final cublasContext handle = new cublasContext();
        private final FloatPointer one = new FloatPointer(1f);
        private final FloatPointer zero = new FloatPointer(0f);

        Cublas(long stream) {
            Loader.load(cublas.class);
            check(cublas.cublasCreate_v2(handle), "cublasCreate");
            check(cublas.cublasSetStream_v2(handle, new CUstream_st(raw(stream))), "cublasSetStream");
            check(cublas.cublasSetMathMode(handle, cublas.CUBLAS_DEFAULT_MATH), "cublasSetMathMode");
        }

        /** Column-major C[m x n] = op(A)[m x k] op(B)[k x n], {@code batch} times with the given strides. */
        void gemm(int m, int n, int k, long a, long b, long c, int batch, long sa, long sb, long sc, boolean ta, boolean tb) {
            int lda = ta ? k : m;
            int ldb = tb ? n : k;
            check(cublas.cublasSgemmStridedBatched(handle, ta ? cublas.CUBLAS_OP_T : cublas.CUBLAS_OP_N,
                    tb ? cublas.CUBLAS_OP_T : cublas.CUBLAS_OP_N, m, n, k, one, new FloatPointer(raw(a)), lda, sa,
                    new FloatPointer(raw(b)), ldb, sb, zero, new FloatPointer(raw(c)), m, sc, batch), "cublasSgemmStridedBatched m="
                    + m + " n=" + n + " k=" + k + " batch=" + batch + (ta ? " A^T" : "") + (tb ? " B^T" : ""));
        }

        void gemm(int m, int n, int k, long a, long b, long c, int batch, long sa, long sb, long sc) {
            gemm(m, n, k, a, b, c, batch, sa, sb, sc, false, false);
        }

        @Override
        public void close() {
            cublas.cublasDestroy_v2(handle);
            one.close();
            zero.close();
        }

        private static Pointer raw(long at) {
            // (not named "address": inside the anonymous class that name is Pointer's own field, so
            // "this.address = address" assigned the field to itself and cuBLAS got null pointers: status 7)
            return new Pointer() {
                {
                    address = at;
                }
            };
        }

        private static void check(int status, String what) {
            assertEquals(0, status, what + " failed with cuBLAS status " + status);
        }
    }
}
