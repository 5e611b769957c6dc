package dev.soma.cuda;

import dev.soma.backend.Backend;
import dev.soma.backend.Transfers;
import dev.soma.memory.Scope;
import dev.soma.ops.Linalg;
import dev.soma.tensor.DType;
import dev.soma.tensor.Device;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import dev.soma.testing.Reference;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

import static dev.soma.cuda.GpuTesting.*;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The CUDA tiled GEMM (cuda-kernels/linalg.cu) against the CPU backend in float64: fresh random inputs every run,
 * outputs poisoned with NaN first; square, tall, wide, K = 1, M or N = 1, sizes that are no multiple of the 64 x 64
 * x 16 tile, K = 0, transposed and strided operands, broadcast batches (size 1 and stride 0), batched 3-d and 4-d.
 * Bounds from DESIGN.md: 1e-4 relative for f32 products; f64 to 1e-12.
 */
@Tag("gpu")
@ExtendWith({NoLeaks.class, GpuSeeds.class})
class CudaLinalgTest {
    private static final List<DType> DTYPES = List.of(DType.F32, DType.F64);

    /**
     * One product: a's and b's batch shapes, M, K, N, and the layouts of a and b: "plain", "transposed" (the
     * transpose stored densely, viewed back), "strided" (every other column of a wider matrix) or "expanded"
     * (batch dimension 0 broadcast with stride 0 from a single matrix).
     */
    private record Case(long[] aBatch, long[] bBatch, long m, long k, long n, String aLayout, String bLayout) {
        static Case of(long m, long k, long n) {
            return new Case(new long[0], new long[0], m, k, n, "plain", "plain");
        }

        Case layouts(String a, String b) {
            return new Case(aBatch, bBatch, m, k, n, a, b);
        }

        Case batches(long[] a, long[] b) {
            return new Case(a, b, m, k, n, aLayout, bLayout);
        }

        long[] aShape() {
            return concat(aBatch, m, k);
        }

        long[] bShape() {
            return concat(bBatch, k, n);
        }

        @Override
        public String toString() {
            return aLayout + " a" + Arrays.toString(aShape()) + " @ " + bLayout + " b" + Arrays.toString(bShape());
        }
    }

    private static long[] concat(long[] batch, long r, long c) {
        long[] s = Arrays.copyOf(batch, batch.length + 2);
        s[batch.length] = r;
        s[batch.length + 1] = c;
        return s;
    }

    private static final Case[] CASES = {
        Case.of(64, 64, 64),
        Case.of(128, 40, 72),             // tall-ish, two row tiles
        Case.of(200, 16, 9),              // tall
        Case.of(7, 48, 150),              // wide
        Case.of(17, 1, 23),               // K = 1
        Case.of(1, 50, 33),               // M = 1
        Case.of(40, 37, 1),               // N = 1
        Case.of(1, 1, 1),
        Case.of(65, 17, 33),              // no dimension a multiple of the tile
        Case.of(65, 17, 33).layouts("transposed", "plain"),
        Case.of(65, 17, 33).layouts("plain", "transposed"),
        Case.of(33, 70, 65).layouts("transposed", "transposed"),
        Case.of(31, 45, 29).layouts("strided", "strided"),
        Case.of(5, 0, 7),                 // K = 0: zeros
        Case.of(9, 21, 13).batches(new long[] {5}, new long[] {5}),
        Case.of(9, 70, 11).batches(new long[] {2, 3}, new long[] {2, 3}).layouts("transposed", "plain"),
        Case.of(12, 19, 10).batches(new long[] {3, 1}, new long[] {4}),           // size-1 and missing batch dims
        Case.of(12, 19, 10).batches(new long[0], new long[] {2, 3}).layouts("plain", "transposed"),
        Case.of(12, 19, 10).batches(new long[] {4}, new long[0]),
        Case.of(20, 33, 14).batches(new long[] {6}, new long[] {6}).layouts("expanded", "plain"),
        Case.of(20, 33, 14).batches(new long[] {3, 2}, new long[] {3, 2}).layouts("transposed", "expanded"),
    };

    /** The operand on the GPU in {@code dtype}, holding the row-major {@code values} of {@code shape} in {@code layout}. */
    private static Tensor gpuOperand(double[] values, long[] shape, String layout, DType dtype) {
        int r = shape.length;
        long rows = shape[r - 2], cols = shape[r - 1];
        long mats = values.length / Math.max(1, rows * cols);
        Tensor host;
        switch (layout) {
            case "plain" -> host = Tensor.of(values, shape);
            case "transposed" -> {
                double[] t = new double[values.length];
                for (long b = 0; b < mats; b++)
                    for (long i = 0; i < rows; i++)
                        for (long j = 0; j < cols; j++)
                            t[(int) (b * rows * cols + j * rows + i)] = values[(int) (b * rows * cols + i * cols + j)];
                long[] stored = shape.clone();
                stored[r - 2] = cols;
                stored[r - 1] = rows;
                host = Tensor.of(t, stored);
            }
            case "strided" -> {
                double[] t = new double[values.length * 2];
                for (int i = 0; i < values.length; i++) t[2 * i] = values[i];
                long[] stored = shape.clone();
                stored[r - 1] = cols * 2;
                host = Tensor.of(t, stored);
            }
            case "expanded" -> {
                // Every batch entry of values is the same matrix: store one and broadcast it with stride 0.
                host = Tensor.of(Arrays.copyOf(values, (int) (rows * cols)), rows, cols);
            }
            default -> throw new IllegalArgumentException(layout);
        }
        Tensor typed = dtype == DType.F64 ? host : host.to(dtype);
        Tensor placed = Transfers.to(typed, GPU);
        return switch (layout) {
            case "transposed" -> placed.transpose(r - 2, r - 1);
            case "strided" -> placed.viewOf(placed.offset(), shape, stridedStrides(shape));
            case "expanded" -> {
                long[] strides = new long[r];
                strides[r - 2] = cols;
                strides[r - 1] = 1;
                yield placed.viewOf(placed.offset(), shape, strides);
            }
            default -> placed;
        };
    }

    /** Strides of a view that takes every other column of a matrix twice as wide (batches dense around it). */
    private static long[] stridedStrides(long[] shape) {
        int r = shape.length;
        long[] s = new long[r];
        s[r - 1] = 2;
        s[r - 2] = 2 * shape[r - 1];
        for (int i = r - 3; i >= 0; i--) s[i] = s[i + 1] * shape[i + 1];
        return s;
    }

    /** Values of the logical operand: random, except an "expanded" operand repeats one matrix over its batch. */
    private static double[] valuesFor(SplittableRandom r, long[] shape, String layout) {
        int n = (int) numel(shape);
        int r2 = shape.length;
        int mat = (int) (shape[r2 - 2] * shape[r2 - 1]);
        double[] v = widen(gaussian(r, n));
        if (layout.equals("expanded") && mat > 0) for (int i = mat; i < n; i++) v[i] = v[i % mat];
        return v;
    }

    @Test
    void matmulMatchesTheCpuBackend() {
        Backend gpu = gpu();
        long before = gpuLiveBytes();
        SplittableRandom r = random();
        for (DType dtype : DTYPES) {
            for (Case c : CASES) {
                try (Scope s = Scope.open()) {
                    double[] av = valuesFor(r, c.aShape(), c.aLayout);
                    double[] bv = valuesFor(r, c.bShape(), c.bLayout);
                    // The reference: the CPU backend in f64 on the values this dtype holds.
                    Tensor aRef = Tensor.of(av, c.aShape());
                    Tensor bRef = Tensor.of(bv, c.bShape());
                    if (dtype == DType.F32) {
                        aRef = aRef.to(DType.F32).to(DType.F64);
                        bRef = bRef.to(DType.F32).to(DType.F64);
                    }
                    Tensor ref = Linalg.matmul(aRef, bRef);
                    Tensor a = gpuOperand(av, c.aShape(), c.aLayout, dtype);
                    Tensor b = gpuOperand(bv, c.bShape(), c.bLayout, dtype);
                    Tensor out = poisoned(dtype, ref.shape());
                    gpu.linalg().matmul(a, b, out);
                    double[] got = out.toDoubleArray();
                    double err = Reference.relativeError(got, ref.toDoubleArray());
                    double bound = dtype == DType.F32 ? Reference.REDUCTION_F32 : 1e-12;
                    assertTrue(err <= bound, () -> c + " " + dtype + ": relative error " + err + " exceeds " + bound
                            + " (" + gpu.linalg().matmulImplementation(a, b, out) + ")");
                    if (c.k == 0) for (double x : got) assertEquals(0.0, x, c + ": K = 0 gives zeros");
                }
            }
        }
        assertNoGpuLeak(before);
    }

    /** Our kernel's name; with the vendor switch off, so that it holds on a real device with cuBLAS too. */
    @Test
    void implementationNamesOurKernel() {
        Backend gpu = gpu();
        dev.soma.backend.cuda.VendorPaths.setVendorEnabled(false);
        try (Scope s = Scope.open()) {
            for (DType dtype : DTYPES) {
                Tensor a = Tensor.zeros(dtype, GPU, 3, 4);
                Tensor b = Tensor.zeros(dtype, GPU, 4, 5);
                Tensor out = Tensor.empty(dtype, GPU, 3, 5);
                String impl = gpu.linalg().matmulImplementation(a, b, out);
                String name = dtype == DType.F32 ? "f32" : "f64";
                assertTrue(impl.startsWith("soma tiled GEMM 64x64 (" + name), impl);
                assertEquals(dev.soma.backend.CudaProbe.result().emulated(), impl.contains("emulated"), impl);
            }
        } finally {
            dev.soma.backend.cuda.VendorPaths.setVendorEnabled(null);
        }
    }

    /** matmul through the public op on cuda:0, forward and backward (autograd), against the same on the CPU. */
    @Test
    void matmulOpForwardAndBackwardMatchTheCpu() {
        gpu();
        long before = gpuLiveBytes();
        SplittableRandom r = random();
        long[][][] shapes = {
            {{37, 70}, {70, 29}},
            {{3, 21, 66}, {3, 66, 17}},
            {{45}, {45, 12}},                // vector @ matrix
        };
        for (DType dtype : DTYPES) {
            for (long[][] sh : shapes) {
                try (Scope s = Scope.open()) {
                    double[] av = widen(gaussian(r, (int) numel(sh[0])));
                    double[] bv = widen(gaussian(r, (int) numel(sh[1])));
                    Tensor aCpu = Tensor.of(av, sh[0]).to(dtype).setRequiresGrad(true);
                    Tensor bCpu = Tensor.of(bv, sh[1]).to(dtype).setRequiresGrad(true);
                    Tensor aGpu = Transfers.to(Tensor.of(av, sh[0]).to(dtype), GPU).setRequiresGrad(true);
                    Tensor bGpu = Transfers.to(Tensor.of(bv, sh[1]).to(dtype), GPU).setRequiresGrad(true);
                    Tensor yCpu = Linalg.matmul(aCpu, bCpu);
                    Tensor yGpu = Linalg.matmul(aGpu, bGpu);
                    assertEquals(GPU, yGpu.device());
                    double[] gv = widen(gaussian(r, (int) yCpu.numel()));
                    yCpu.backward(Tensor.of(gv, yCpu.shape()).to(dtype));
                    yGpu.backward(Transfers.to(Tensor.of(gv, yCpu.shape()).to(dtype), GPU));
                    double bound = dtype == DType.F32 ? Reference.REDUCTION_F32 : 1e-12;
                    String what = Arrays.toString(sh[0]) + " @ " + Arrays.toString(sh[1]) + " " + dtype;
                    Reference.assertClose(yGpu.toDoubleArray(), yCpu.toDoubleArray(), bound);
                    assertTrue(Reference.relativeError(aGpu.grad().toDoubleArray(), aCpu.grad().toDoubleArray()) <= bound,
                            what + " dA");
                    assertTrue(Reference.relativeError(bGpu.grad().toDoubleArray(), bCpu.grad().toDoubleArray()) <= bound,
                            what + " dB");
                    assertEquals(GPU, aGpu.grad().device());
                }
            }
        }
        assertNoGpuLeak(before);
    }

    /** matmulBias (the product and the add apart on the GPU, one oneDNN kernel on the CPU): values and gradients. */
    @Test
    void matmulBiasOpForwardAndBackwardMatchTheCpu() {
        gpu();
        long before = gpuLiveBytes();
        SplittableRandom r = random();
        long[][] inputs = {{37, 70}, {3, 21, 70}};
        for (DType dtype : DTYPES) {
            for (long[] in : inputs) {
                try (Scope s = Scope.open()) {
                    long[] wShape = {70, 29};
                    double[] av = widen(gaussian(r, (int) numel(in)));
                    double[] wv = widen(gaussian(r, (int) numel(wShape)));
                    double[] bv = widen(gaussian(r, 29));
                    Tensor[] cpu = {Tensor.of(av, in).to(dtype), Tensor.of(wv, wShape).to(dtype), Tensor.of(bv, 29).to(dtype)};
                    Tensor[] gpu = new Tensor[3];
                    for (int i = 0; i < 3; i++) {
                        gpu[i] = Transfers.to(cpu[i], GPU).setRequiresGrad(true);
                        cpu[i].setRequiresGrad(true);
                    }
                    Tensor yCpu = Linalg.matmulBias(cpu[0], cpu[1], cpu[2]);
                    Tensor yGpu = Linalg.matmulBias(gpu[0], gpu[1], gpu[2]);
                    assertEquals(GPU, yGpu.device());
                    double[] gv = widen(gaussian(r, (int) yCpu.numel()));
                    yCpu.backward(Tensor.of(gv, yCpu.shape()).to(dtype));
                    yGpu.backward(Transfers.to(Tensor.of(gv, yCpu.shape()).to(dtype), GPU));
                    double bound = dtype == DType.F32 ? Reference.REDUCTION_F32 : 1e-12;
                    String what = Arrays.toString(in) + " @ " + Arrays.toString(wShape) + " + bias " + dtype;
                    Reference.assertClose(yGpu.toDoubleArray(), yCpu.toDoubleArray(), bound);
                    String[] names = {"dA", "dW", "dBias"};
                    for (int i = 0; i < 3; i++) {
                        assertEquals(GPU, gpu[i].grad().device(), what + " " + names[i]);
                        assertTrue(Reference.relativeError(gpu[i].grad().toDoubleArray(), cpu[i].grad().toDoubleArray())
                                <= bound, what + " " + names[i]);
                    }
                }
            }
        }
        assertNoGpuLeak(before);
    }
}
