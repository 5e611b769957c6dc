package dev.soma.cuda;

import dev.soma.backend.Backend;
import dev.soma.backend.Backends;
import dev.soma.backend.ConvKernels;
import dev.soma.backend.ConvKernels.Geometry;
import dev.soma.backend.ConvKernels.PoolKind;
import dev.soma.backend.Transfers;
import dev.soma.memory.Scope;
import dev.soma.ops.Convolution;
import dev.soma.ops.Pooling;
import dev.soma.tensor.DType;
import dev.soma.tensor.Device;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import dev.soma.testing.Reference;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.List;
import java.util.SplittableRandom;

import static dev.soma.cuda.GpuTesting.*;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The CUDA convolution and pooling kernels (cuda-kernels/conv.cu) against the CPU backend's float64 kernels:
 * fresh random inputs every run (rounded to f32 first, so the f32 run sees the reference's inputs), outputs
 * poisoned with NaN first; 1x1, 3x3 and 5x5 kernels, strides, dilation, "same" and "valid" padding, odd
 * spatial sizes, batch 1 and 3, channel counts below and above a tile (64), a backward-weights reduction long
 * enough to be split into slices. Bounds from DESIGN.md: products 1e-4 in f32, 1e-12 in f64.
 */
@Tag("gpu")
@ExtendWith({NoLeaks.class, GpuSeeds.class})
class CudaConvTest {
    private static final List<DType> DTYPES = List.of(DType.F32, DType.F64);

    /** One convolution: input [n, h, w, c], oc filters of kh x kw, strides, dilations, padding. */
    private record Case(int n, int h, int w, int c, int oc, int kh, int kw, int sh, int sw, int dh, int dw, boolean same) {
        Geometry geometry() {
            long[] rows = window(h, kh, sh, dh, same);
            long[] cols = window(w, kw, sw, dw, same);
            return new Geometry(n, h, w, c, rows[0], cols[0], oc, kh, kw, sh, sw, dh, dw, rows[1], rows[2], cols[1], cols[2]);
        }
    }

    /** Output size and padding before / after, as the ops compute them (Keras: the odd pixel after). */
    private static long[] window(long size, long k, long stride, long dilation, boolean same) {
        long extent = (k - 1) * dilation + 1;
        if (same) {
            long out = (size + stride - 1) / stride;
            long total = Math.max((out - 1) * stride + extent - size, 0);
            return new long[] {out, total / 2, total - total / 2};
        }
        return new long[] {(size - extent) / stride + 1, 0, 0};
    }

    private static final Case[] CONV_CASES = {
        new Case(3, 5, 7, 5, 8, 1, 1, 1, 1, 1, 1, false),   // 1x1
        new Case(2, 9, 11, 3, 5, 3, 3, 1, 1, 1, 1, true),   // 3x3 same
        new Case(1, 9, 11, 1, 3, 5, 5, 1, 1, 1, 1, false),  // 5x5 valid, one channel
        new Case(3, 9, 11, 8, 5, 3, 3, 2, 2, 1, 1, true),   // stride 2 same (odd sizes: padding after)
        new Case(1, 11, 9, 3, 8, 5, 5, 2, 2, 1, 1, false),  // 5x5 stride 2 valid
        new Case(2, 9, 11, 5, 3, 3, 3, 1, 1, 2, 2, true),   // dilation 2 same
        new Case(1, 10, 9, 3, 4, 3, 2, 2, 1, 2, 1, false),  // rectangular kernel, mixed strides and dilation
        new Case(1, 5, 6, 2, 70, 3, 3, 1, 1, 1, 1, false),  // 70 filters: two column tiles
        new Case(1, 5, 5, 67, 3, 3, 3, 1, 1, 1, 1, true),   // 67 channels: two tiles of backward data / weights
        new Case(3, 17, 19, 8, 5, 3, 3, 1, 1, 1, 1, true),  // N*OH*OW = 969: backward weights split into slices
    };

    private static double[] values(SplittableRandom r, int n) {
        return widen(gaussian(r, n));
    }

    private static Tensor cpu(double[] v, long... shape) {
        return Tensor.of(v, shape);
    }

    private static Tensor gpuTensor(double[] v, DType dtype, long... shape) {
        Tensor host = Tensor.of(v, shape);
        return Transfers.to(dtype == DType.F64 ? host : host.to(dtype), GPU);
    }

    private static void compare(String what, DType dtype, Tensor out, double[] ref, double f32Bound) {
        double err = Reference.relativeError(out.toDoubleArray(), ref);
        double bound = dtype == DType.F32 ? f32Bound : 1e-12;
        assertTrue(err <= bound, what + ": relative error " + err + " exceeds " + bound);
    }

    private static long[] xShape(Geometry g) {
        return new long[] {g.n(), g.h(), g.w(), g.c()};
    }

    private static long[] yShape(Geometry g) {
        return new long[] {g.n(), g.oh(), g.ow(), g.oc()};
    }

    private static long[] kShape(Geometry g) {
        return new long[] {g.kh(), g.kw(), g.c(), g.oc()};
    }

    @Test
    void forwardMatchesTheCpu() {
        Backend gpu = gpu();
        long before = gpuLiveBytes();
        SplittableRandom r = random();
        ConvKernels ref = Backends.cpu().conv();
        for (Case c : CONV_CASES) {
            Geometry g = c.geometry();
            double[] x = values(r, (int) numel(xShape(g)));
            double[] k = values(r, (int) numel(kShape(g)));
            double[] b = values(r, (int) g.oc());
            for (int variant = 0; variant < 3; variant++) {  // no bias; bias; bias + ReLU
                boolean bias = variant > 0;
                boolean relu = variant == 2;
                try (Scope s = Scope.open()) {
                    Tensor expected = Tensor.empty(DType.F64, Device.cpu(), yShape(g));
                    ref.conv2d(g, cpu(x, xShape(g)), cpu(k, kShape(g)), bias ? cpu(b, g.oc()) : null, false, expected);
                    double[] e = expected.toDoubleArray();
                    if (relu) for (int i = 0; i < e.length; i++) e[i] = Math.max(e[i], 0);
                    for (DType dtype : DTYPES) {
                        Tensor out = poisoned(dtype, yShape(g));
                        gpu.conv().conv2d(g, gpuTensor(x, dtype, xShape(g)), gpuTensor(k, dtype, kShape(g)),
                                bias ? gpuTensor(b, dtype, g.oc()) : null, relu, out);
                        compare("conv2d " + dtype + " " + g + (bias ? " bias" : "") + (relu ? " relu" : ""), dtype,
                                out, e, Reference.REDUCTION_F32);
                    }
                }
            }
        }
        assertNoGpuLeak(before);
    }

    @Test
    void backwardDataMatchesTheCpu() {
        Backend gpu = gpu();
        long before = gpuLiveBytes();
        SplittableRandom r = random();
        for (Case c : CONV_CASES) {
            Geometry g = c.geometry();
            double[] gy = values(r, (int) numel(yShape(g)));
            double[] k = values(r, (int) numel(kShape(g)));
            try (Scope s = Scope.open()) {
                Tensor expected = Tensor.empty(DType.F64, Device.cpu(), xShape(g));
                Backends.cpu().conv().conv2dBackwardData(g, cpu(gy, yShape(g)), cpu(k, kShape(g)), expected);
                for (DType dtype : DTYPES) {
                    Tensor gx = poisoned(dtype, xShape(g));
                    gpu.conv().conv2dBackwardData(g, gpuTensor(gy, dtype, yShape(g)), gpuTensor(k, dtype, kShape(g)), gx);
                    compare("conv2d backward data " + dtype + " " + g, dtype, gx, expected.toDoubleArray(),
                            Reference.REDUCTION_F32);
                }
            }
        }
        assertNoGpuLeak(before);
    }

    @Test
    void backwardWeightsMatchTheCpuAndAreDeterministic() {
        Backend gpu = gpu();
        long before = gpuLiveBytes();
        SplittableRandom r = random();
        for (Case c : CONV_CASES) {
            Geometry g = c.geometry();
            double[] x = values(r, (int) numel(xShape(g)));
            double[] gy = values(r, (int) numel(yShape(g)));
            for (boolean bias : new boolean[] {false, true}) {
                try (Scope s = Scope.open()) {
                    Tensor ek = Tensor.empty(DType.F64, Device.cpu(), kShape(g));
                    Tensor eb = bias ? Tensor.empty(DType.F64, Device.cpu(), g.oc()) : null;
                    Backends.cpu().conv().conv2dBackwardWeights(g, cpu(x, xShape(g)), cpu(gy, yShape(g)), ek, eb);
                    for (DType dtype : DTYPES) {
                        Tensor xs = gpuTensor(x, dtype, xShape(g));
                        Tensor gys = gpuTensor(gy, dtype, yShape(g));
                        Tensor gk = poisoned(dtype, kShape(g));
                        Tensor gb = bias ? poisoned(dtype, g.oc()) : null;
                        gpu.conv().conv2dBackwardWeights(g, xs, gys, gk, gb);
                        String what = "conv2d backward weights " + dtype + " " + g;
                        compare(what, dtype, gk, ek.toDoubleArray(), Reference.REDUCTION_F32);
                        if (bias) compare(what + " (bias)", dtype, gb, eb.toDoubleArray(), Reference.REDUCTION_F32);
                        // Deterministic: a second run gives the same bits.
                        Tensor again = poisoned(dtype, kShape(g));
                        Tensor againBias = bias ? poisoned(dtype, g.oc()) : null;
                        gpu.conv().conv2dBackwardWeights(g, xs, gys, again, againBias);
                        assertArrayEquals(gk.toDoubleArray(), again.toDoubleArray(), what + ": not deterministic");
                        if (bias) assertArrayEquals(gb.toDoubleArray(), againBias.toDoubleArray(), what + ": bias");
                    }
                }
            }
        }
        assertNoGpuLeak(before);
    }

    /** Our kernels' names; with the vendor switch off, so that it holds on a real device with cuDNN too. */
    @Test
    void implementationsNameOurKernels() {
        Backend gpu = gpu();
        Geometry g = CONV_CASES[1].geometry();
        dev.soma.backend.cuda.VendorPaths.setVendorEnabled(false);
        try {
            String[] conv = gpu.conv().conv2dImplementations(g, DType.F32, true);
            assertEquals(3, conv.length);
            for (String s : conv) assertTrue(s.startsWith("soma implicit-GEMM conv2d"), s);
            String[] pool = gpu.conv().pool2dImplementations(PoolKind.MAX, g, DType.F32);
            assertEquals(2, pool.length);
            for (String s : pool) assertTrue(s.startsWith("soma max pool2d"), s);
        } finally {
            dev.soma.backend.cuda.VendorPaths.setVendorEnabled(null);
        }
    }

    // ------------------------------------------------------------------ pooling

    /** One pooling: input [n, h, w, c], window, strides, padding. */
    private record PoolCase(int n, int h, int w, int c, int kh, int kw, int sh, int sw, boolean same) {
        Geometry geometry() {
            long[] rows = window(h, kh, sh, 1, same);
            long[] cols = window(w, kw, sw, 1, same);
            return new Geometry(n, h, w, c, rows[0], cols[0], c, kh, kw, sh, sw, 1, 1, rows[1], rows[2], cols[1], cols[2]);
        }
    }

    private static final PoolCase[] POOL_CASES = {
        new PoolCase(2, 9, 11, 3, 2, 2, 2, 2, false),  // odd sizes: the last row / column dropped
        new PoolCase(3, 9, 11, 5, 3, 3, 2, 2, true),   // overlapping windows with padding
        new PoolCase(1, 7, 8, 8, 3, 3, 1, 1, true),    // stride 1, every input in up to 9 windows
        new PoolCase(1, 6, 9, 1, 2, 3, 1, 2, false),   // rectangular window, one channel
        // A stride near 2^31 (one window per axis): the backward's first window, (y - kh + stride) / stride, overflowed
        // int and summed gradients of windows that do not exist.
        new PoolCase(3, 5, 7, 2, 3, 2, Integer.MAX_VALUE, Integer.MAX_VALUE, false),
        new PoolCase(2, 4, 6, 3, 2, 3, Integer.MAX_VALUE - 1, 3, true),
        new PoolCase(3, 5, 5, 67, 2, 2, 2, 2, true),   // many channels, padding after only
    };

    @Test
    void poolingMatchesTheCpuIncludingTies() {
        Backend gpu = gpu();
        long before = gpuLiveBytes();
        SplittableRandom r = random();
        for (PoolKind kind : PoolKind.values()) {
            for (PoolCase c : POOL_CASES) {
                Geometry g = c.geometry();
                long[] xs = xShape(g);
                long[] ys = yShape(g);
                // Max: small integers, so windows hold ties (the first maximum in row-major order wins).
                double[] x = kind == PoolKind.MAX ? widen(smallInts(r, (int) numel(xs))) : values(r, (int) numel(xs));
                double[] gy = values(r, (int) numel(ys));
                int isMax = kind == PoolKind.MAX ? 1 : 0;
                try (Scope s = Scope.open()) {
                    Tensor ey = Tensor.empty(DType.F64, Device.cpu(), ys);
                    Tensor ex = Tensor.empty(DType.F64, Device.cpu(), xs);
                    ConvKernels ref = Backends.cpu().conv();
                    ref.pool2d(kind, g, cpu(x, xs), ey, 0);
                    ref.pool2dBackward(kind, g, cpu(x, xs), cpu(gy, ys), 0, ex);
                    for (DType dtype : DTYPES) {
                        String what = kind + " pool2d " + dtype + " " + g;
                        long wsBytes = gpu.conv().pool2dWorkspaceBytes(kind, g, dtype);
                        assertEquals(kind == PoolKind.MAX ? numel(ys) * 4 : 0, wsBytes, what + ": workspace");
                        Tensor ws = wsBytes == 0 ? null : poisoned(DType.F32, wsBytes / 4);
                        long wsAddress = ws == null ? 0 : ws.address();
                        Tensor gx = gpuTensor(x, dtype, xs);
                        Tensor out = poisoned(dtype, ys);
                        gpu.conv().pool2d(kind, g, gx, out, wsAddress);
                        compare(what, dtype, out, ey.toDoubleArray(), Reference.ELEMENTWISE_F32);
                        Tensor ggy = gpuTensor(gy, dtype, ys);
                        // With the training forward's workspace (x not passed), then without (recomputed from x).
                        Tensor dx = poisoned(dtype, xs);
                        gpu.conv().pool2dBackward(kind, g, null, ggy, wsAddress, dx);
                        compare(what + " backward", dtype, dx, ex.toDoubleArray(), Reference.ELEMENTWISE_F32);
                        if (isMax == 1) {
                            Tensor dx2 = poisoned(dtype, xs);
                            gpu.conv().pool2dBackward(kind, g, gx, ggy, 0, dx2);
                            compare(what + " backward without workspace", dtype, dx2, ex.toDoubleArray(),
                                    Reference.ELEMENTWISE_F32);
                            // Inference forward: no workspace at all.
                            Tensor out2 = poisoned(dtype, ys);
                            gpu.conv().pool2d(kind, g, gx, out2, 0);
                            assertArrayEquals(out.toDoubleArray(), out2.toDoubleArray(), what + " inference");
                        }
                    }
                }
            }
        }
        assertNoGpuLeak(before);
    }

    // ------------------------------------------------------------------ through the ops and autograd

    /** conv2dRelu (bias) then maxPool2d then conv2d (no bias) then avgPool2d, forward and backward. */
    @Test
    void convolutionAndPoolingOpsTrainOnTheGpuAsOnTheCpu() {
        gpu();
        long before = gpuLiveBytes();
        SplittableRandom r = random();
        long[] xs = {2, 9, 11, 3};
        long[] k1s = {3, 3, 3, 5};
        long[] k2s = {2, 2, 5, 4};
        double[] x = values(r, (int) numel(xs));
        double[] k1 = values(r, (int) numel(k1s));
        double[] b1 = values(r, 5);
        double[] k2 = values(r, (int) numel(k2s));
        for (DType dtype : DTYPES) {
            double[][] cpuResults = run(Device.cpu(), dtype, xs, x, k1s, k1, b1, k2s, k2, r, null);
            double[][] gpuResults = run(GPU, dtype, xs, x, k1s, k1, b1, k2s, k2, r, cpuResults[cpuResults.length - 1]);
            String[] names = {"output", "grad x", "grad kernel 1", "grad bias 1", "grad kernel 2"};
            for (int i = 0; i < names.length; i++) {
                double err = Reference.relativeError(gpuResults[i], cpuResults[i]);
                double bound = dtype == DType.F32 ? Reference.REDUCTION_F32 : 1e-12;
                assertTrue(err <= bound, dtype + " " + names[i] + ": relative error " + err + " exceeds " + bound);
            }
        }
        assertNoGpuLeak(before);
    }

    /**
     * The model on {@code device}; returns output, gradients and (last) the output gradient used, which the
     * GPU run takes from the CPU run ({@code seed}) so both back-propagate the same values.
     */
    private static double[][] run(Device device, DType dtype, long[] xs, double[] x, long[] k1s, double[] k1, double[] b1,
                                  long[] k2s, double[] k2, SplittableRandom r, double[] seed) {
        try (Scope s = Scope.open()) {
            Tensor tx = place(x, dtype, device, xs).setRequiresGrad(true);
            Tensor tk1 = place(k1, dtype, device, k1s).setRequiresGrad(true);
            Tensor tb1 = place(b1, dtype, device, 5).setRequiresGrad(true);
            Tensor tk2 = place(k2, dtype, device, k2s).setRequiresGrad(true);
            Tensor h = Convolution.conv2dRelu(tx, tk1, tb1, new int[] {1, 1}, "same", new int[] {1, 1});
            h = Pooling.maxPool2d(h, new int[] {2, 2}, null, "same");
            h = Convolution.conv2d(h, tk2, null, new int[] {1, 1}, "valid", new int[] {1, 1});
            Tensor y = Pooling.avgPool2d(h, new int[] {2, 2}, new int[] {1, 1}, "same");
            double[] g = seed != null ? seed : widen(gaussian(r, (int) y.numel()));
            y.backward(place(g, dtype, device, y.shape()));
            double[][] out = {y.toDoubleArray(), tx.grad().toDoubleArray(), tk1.grad().toDoubleArray(),
                tb1.grad().toDoubleArray(), tk2.grad().toDoubleArray(), g};
            for (Tensor t : new Tensor[] {tx, tk1, tb1, tk2}) t.zeroGrad();
            return out;
        }
    }

    private static Tensor place(double[] v, DType dtype, Device device, long... shape) {
        Tensor host = Tensor.of(v, shape);
        Tensor typed = dtype == DType.F64 ? host : host.to(dtype);
        return device.isCpu() ? typed : Transfers.to(typed, device);
    }
}
