package dev.soma.ops;

import dev.soma.autograd.GradMode;
import dev.soma.autograd.Gradcheck;
import dev.soma.backend.Backends;
import dev.soma.backend.ConvKernels.PoolKind;
import dev.soma.errors.DTypeException;
import dev.soma.errors.ShapeException;
import dev.soma.memory.Scope;
import dev.soma.tensor.DType;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import dev.soma.testing.Reference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.util.Arrays;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/**
 * maxPool2d / avgPool2d against plain loops (valid/same, strides, odd sizes), f64 gradient checks, the f32
 * oneDNN backward against the checked f64 one, the max-pool workspace's lifetime, and globalAveragePool.
 */
@ExtendWith(NoLeaks.class)
class PoolTest {
    /** N, H, W, C, PH, PW, SH, SW, same (1/0). */
    private static final int[][] CASES = {
        {2, 6, 6, 3, 2, 2, 2, 2, 0},
        {2, 7, 7, 3, 2, 2, 2, 2, 0},     // odd size: the last row/column is dropped
        {2, 7, 7, 3, 2, 2, 2, 2, 1},     // odd size, same: the last window is partly padding
        {1, 9, 8, 4, 3, 3, 2, 2, 1},     // overlapping windows
        {2, 8, 9, 2, 3, 2, 1, 1, 1},     // stride 1, same
        {1, 10, 7, 5, 3, 3, 3, 2, 0},
        {2, 5, 5, 16, 5, 5, 5, 5, 0},    // the window covers the image
        {1, 28, 28, 64, 2, 2, 2, 2, 0},  // the reference CNN's shape
    };

    /** Direct max or average (padding excluded) pooling of an NHWC array. */
    static double[] pool(boolean max, double[] x, int n, int h, int w, int c, int ph, int pw, int sh, int sw, boolean same) {
        int[] ry = ConvForwardTest.outAndPad(h, ph, sh, 1, same);
        int[] rx = ConvForwardTest.outAndPad(w, pw, sw, 1, same);
        int oh = ry[0], ow = rx[0];
        double[] out = new double[n * oh * ow * c];
        for (int b = 0; b < n; b++)
            for (int oy = 0; oy < oh; oy++)
                for (int ox = 0; ox < ow; ox++)
                    for (int ci = 0; ci < c; ci++) {
                        double acc = max ? Double.NEGATIVE_INFINITY : 0;
                        int count = 0;
                        for (int i = 0; i < ph; i++)
                            for (int j = 0; j < pw; j++) {
                                int iy = oy * sh - ry[1] + i, ix = ox * sw - rx[1] + j;
                                if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                                double v = x[((b * h + iy) * w + ix) * c + ci];
                                acc = max ? Math.max(acc, v) : acc + v;
                                count++;
                            }
                        out[((b * oh + oy) * ow + ox) * c + ci] = max ? acc : acc / count;
                    }
        return out;
    }

    private static Tensor apply(PoolKind kind, Tensor x, int[] c) {
        int[] p = {c[4], c[5]};
        int[] s = {c[6], c[7]};
        String pad = c[8] == 1 ? "same" : "valid";
        return kind == PoolKind.MAX ? Pooling.maxPool2d(x, p, s, pad) : Pooling.avgPool2d(x, p, s, pad);
    }

    @ParameterizedTest
    @EnumSource(value = DType.class, names = {"F32", "F64"})
    void matchesDirectLoops(DType dt) {
        SplittableRandom r = new SplittableRandom(21);
        for (int[] c : CASES) {
            double[] xv = ConvForwardTest.random(r, c[0] * c[1] * c[2] * c[3]);
            for (PoolKind kind : PoolKind.values()) {
                for (boolean training : new boolean[] {false, true}) {
                    try (Scope s = Scope.open()) {
                        Tensor x = ConvForwardTest.tensor(xv, dt, c[0], c[1], c[2], c[3]).setRequiresGrad(training);
                        Tensor y = apply(kind, x, c);
                        double[] ref = pool(kind == PoolKind.MAX, xv, c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8] == 1);
                        String label = kind + " " + Arrays.toString(c) + " " + dt + (training ? " training" : "");
                        assertEquals(ref.length, y.numel(), label);
                        double bound = dt == DType.F32 ? Reference.REDUCTION_F32 : 1e-12;
                        double err = Reference.relativeError(y.toDoubleArray(), ref);
                        assertTrue(err <= bound, label + ": relative error " + err);
                    }
                }
            }
        }
    }

    /**
     * "same" padding lets a window exceed the input; Pooling clamps it to the size from which every window covers the
     * whole input (results unchanged). Windows up to three times the input against the direct loops, and windows of
     * 2^31 - 1 (which crashed oneDNN's JIT, and the fused Conv2D-ReLU-MaxPool kernel's buffer) against global pooling,
     * in both dtypes and through the fused op too.
     */
    @Test
    void windowsLargerThanTheInputWithSamePadding() {
        SplittableRandom r = new SplittableRandom(23);
        for (DType dt : new DType[] {DType.F32, DType.F64}) {
            for (int t = 0; t < 60; t++) {
                int h = r.nextInt(1, 6), w = r.nextInt(1, 6), ph = r.nextInt(1, 3 * h + 2), pw = r.nextInt(1, 3 * w + 2);
                int sh = r.nextInt(1, 4), sw = r.nextInt(1, 4);
                double[] xv = ConvForwardTest.random(r, 2 * h * w * 3);
                for (PoolKind kind : PoolKind.values()) {
                    try (Scope s = Scope.open()) {
                        int[] c = {2, h, w, 3, ph, pw, sh, sw, 1};
                        Tensor y = apply(kind, ConvForwardTest.tensor(xv, dt, 2, h, w, 3), c);
                        double[] ref = pool(kind == PoolKind.MAX, xv, 2, h, w, 3, ph, pw, sh, sw, true);
                        double err = Reference.relativeError(y.toDoubleArray(), ref);
                        assertTrue(err <= (dt == DType.F32 ? Reference.REDUCTION_F32 : 1e-12),
                                kind + " " + Arrays.toString(c) + " " + dt + ": relative error " + err);
                    }
                }
            }
        }
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.of(ConvForwardTest.random(r, 2 * 4 * 5 * 3), 2, 4, 5, 3).to(DType.F32);
            int[] huge = {Integer.MAX_VALUE, Integer.MAX_VALUE};
            double[] max = x.max(new int[] {1, 2}, false).toDoubleArray();
            assertArrayEquals(max, Pooling.maxPool2d(x, huge, null, "same").toDoubleArray());
            assertArrayEquals(x.mean(new int[] {1, 2}, false).toDoubleArray(),
                    Pooling.avgPool2d(x, huge, null, "same").toDoubleArray(), 1e-6);
            // Stride 1: every one of the 4 x 5 windows covers the whole image.
            double[] everywhere = Pooling.maxPool2d(x, huge, new int[] {1, 1}, "same").toDoubleArray();
            for (int i = 0; i < everywhere.length; i++) {
                assertEquals(max[i / (4 * 5 * 3) * 3 + i % 3], everywhere[i], "element " + i);
            }
            Tensor kernel = Tensor.ones(1, 1, 3, 3);
            double[] fused = ConvolutionPooling.conv2dReluMaxPool(x.setRequiresGrad(true), kernel, null, new int[] {1, 1},
                    "valid", new int[] {1, 1}, new int[] {2, Integer.MAX_VALUE}, null, "same").toDoubleArray();
            double[] plain = Pooling.maxPool2d(Convolution.conv2dRelu(x, kernel, null, new int[] {1, 1}, "valid",
                    new int[] {1, 1}), new int[] {2, Integer.MAX_VALUE}, null, "same").toDoubleArray();
            assertArrayEquals(plain, fused);
        }
    }

    @Test
    void outputSizesAndDefaultStrides() {
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.zeros(2, 7, 5, 3);
            assertArrayEquals(new long[] {2, 3, 2, 3}, Pooling.maxPool2d(x, new int[] {2, 2}, null, "valid").shape());
            assertArrayEquals(new long[] {2, 4, 3, 3}, Pooling.maxPool2d(x, new int[] {2, 2}, null, "same").shape());
            assertArrayEquals(new long[] {2, 6, 4, 3}, Pooling.avgPool2d(x, new int[] {2, 2}, new int[] {1, 1}, "valid").shape());
            assertArrayEquals(new long[] {2, 3}, Pooling.globalAveragePool(x).shape());
        }
    }

    @Test
    void gradientChecksInFloat64() {
        SplittableRandom r = new SplittableRandom(22);
        for (int[] c : Arrays.copyOf(CASES, 6)) {
            try (Scope s = Scope.open()) {
                Tensor x = Tensor.of(ConvForwardTest.random(r, c[0] * c[1] * c[2] * c[3]), c[0], c[1], c[2], c[3]);
                for (PoolKind kind : PoolKind.values()) {
                    Gradcheck.assertGradients(kind + " pool " + Arrays.toString(c), xs -> apply(kind, xs[0], c), x);
                }
            }
        }
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.of(ConvForwardTest.random(r, 2 * 3 * 4 * 5), 2, 3, 4, 5);
            Gradcheck.assertGradients("globalAveragePool", xs -> Pooling.globalAveragePool(xs[0]), x);
        }
    }

    @Test
    void oneDnnBackwardMatchesTheCheckedF64Backward() {
        SplittableRandom r = new SplittableRandom(23);
        for (int[] c : CASES) {
            double[] xv = ConvForwardTest.random(r, c[0] * c[1] * c[2] * c[3]);
            for (PoolKind kind : PoolKind.values()) {
                double[] g64 = inputGrad(kind, DType.F64, c, xv);
                double[] g32 = inputGrad(kind, DType.F32, c, xv);
                double err = Reference.relativeError(g32, g64);
                assertTrue(err <= Reference.REDUCTION_F32, kind + " " + Arrays.toString(c) + ": relative error " + err);
            }
        }
    }

    private static double[] inputGrad(PoolKind kind, DType dt, int[] c, double[] xv) {
        try (Scope s = Scope.open()) {
            Tensor x = ConvForwardTest.tensor(xv, dt, c[0], c[1], c[2], c[3]).setRequiresGrad(true);
            Tensor y = apply(kind, x, c);
            double[] wv = new double[(int) y.numel()];
            for (int i = 0; i < wv.length; i++) wv[i] = Math.cos(0.29 * i);
            y.backward(ConvForwardTest.tensor(wv, dt, y.shape()));
            double[] g = x.grad().toDoubleArray();
            x.zeroGrad();
            return g;
        }
    }

    /** The workspace shares the output's block: freed with it, and only allocated when a backward can follow. */
    @Test
    void maxPoolWorkspaceLivesAndDiesWithTheOutput() {
        var pool = Backends.cpu().pool();
        long before = pool.stats().allocatedBytes();
        Tensor x = Tensor.rand(1, 4, 28, 28, 64).keep();
        long withInput = pool.stats().allocatedBytes();
        long outBytes = 4L * 14 * 14 * 64 * 4;
        Tensor inference = Pooling.maxPool2d(x, new int[] {2, 2}, null, "valid").keep();
        long inferenceBytes = pool.stats().allocatedBytes() - withInput;
        inference.close();
        x.setRequiresGrad(true);
        Tensor training = Pooling.maxPool2d(x, new int[] {2, 2}, null, "valid").keep();
        long trainingBytes = pool.stats().allocatedBytes() - withInput;
        assertTrue(inferenceBytes >= outBytes && inferenceBytes < outBytes + 4096, "inference block " + inferenceBytes);
        assertTrue(trainingBytes > inferenceBytes, "training block " + trainingBytes + " has no room for the workspace");
        // The backward still works after the forward's scope of temporaries is long gone.
        try (Scope s = Scope.open()) {
            training.sum().backward();
            assertEquals(1.0 * training.numel(), x.grad().sum().item(), 1e-3);
        }
        training.close();
        x.close();
        assertEquals(before, pool.stats().allocatedBytes());
    }

    @Test
    void noGradModeSkipsTheWorkspace() {
        try (Scope s = Scope.open(); GradMode.Guard g = GradMode.disable()) {
            Tensor x = Tensor.rand(2, 2, 8, 8, 4).setRequiresGrad(true);
            Tensor y = Pooling.maxPool2d(x, new int[] {2, 2}, null, "valid");
            assertFalse(y.requiresGrad());
        }
    }

    @Test
    void badInputsNameTheOpAndShapes() {
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.zeros(2, 5, 5, 3);
            ShapeException e = assertThrows(ShapeException.class,
                    () -> Pooling.maxPool2d(Tensor.zeros(5, 5, 3), new int[] {2, 2}, null, "valid"));
            assertTrue(e.getMessage().startsWith("maxPool2d: input float32[5, 5, 3]") && e.getMessage().contains("rank 4"),
                    e.getMessage());
            e = assertThrows(ShapeException.class, () -> Pooling.avgPool2d(x, new int[] {6, 2}, null, "valid"));
            assertTrue(e.getMessage().startsWith("avgPool2d: window 6 along the height") && e.getMessage().contains("[2, 5, 5, 3]"),
                    e.getMessage());
            e = assertThrows(ShapeException.class, () -> Pooling.maxPool2d(x, new int[] {2, 2}, new int[] {0, 1}, "valid"));
            assertTrue(e.getMessage().startsWith("maxPool2d: strides must be positive, got [0, 1]"), e.getMessage());
            e = assertThrows(ShapeException.class, () -> Pooling.maxPool2d(x, new int[] {-2, 2}, null, "valid"));
            assertTrue(e.getMessage().startsWith("maxPool2d: pool size must be positive"), e.getMessage());
            e = assertThrows(ShapeException.class, () -> Pooling.maxPool2d(x, new int[] {2}, null, "valid"));
            assertTrue(e.getMessage().contains("pair"), e.getMessage());
            e = assertThrows(ShapeException.class, () -> Pooling.maxPool2d(x, new int[] {2, 2}, null, "full"));
            assertTrue(e.getMessage().contains("\"valid\" or \"same\""), e.getMessage());
            DTypeException d = assertThrows(DTypeException.class,
                    () -> Pooling.maxPool2d(Tensor.ofInts(new int[8], 1, 2, 2, 2), new int[] {2, 2}, null, "valid"));
            assertTrue(d.getMessage().startsWith("maxPool2d: ") && d.getMessage().contains("int32"), d.getMessage());
            e = assertThrows(ShapeException.class, () -> Pooling.globalAveragePool(Tensor.zeros(2, 3)));
            assertTrue(e.getMessage().startsWith("globalAveragePool: input float32[2, 3]"), e.getMessage());
            Tensor closed = Tensor.zeros(1, 4, 4, 1);
            closed.close();
            assertThrows(dev.soma.errors.ClosedTensorException.class,
                    () -> Pooling.avgPool2d(closed, new int[] {2, 2}, null, "valid"));
        }
    }
}
