package dev.soma.ops;

import dev.soma.autograd.Gradcheck;
import dev.soma.backend.MixedPrecision;
import dev.soma.errors.ShapeException;
import dev.soma.memory.Scope;
import dev.soma.model.FunctionalModel;
import dev.soma.model.Input;
import dev.soma.model.Sequential;
import dev.soma.model.SymbolicTensor;
import dev.soma.nn.Concatenate;
import dev.soma.nn.Conv2D;
import dev.soma.nn.Dense;
import dev.soma.nn.Flatten;
import dev.soma.nn.GlobalAveragePooling2D;
import dev.soma.nn.MaxPooling2D;
import dev.soma.tensor.DType;
import dev.soma.tensor.Precision;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * conv2dReluMaxPool, the fused Conv2D(relu) + MaxPooling2D: the CPU's float32 kernels (and bf16 mode's) against the
 * two ops it replaces, bit for bit where the windows do not overlap; the float64 gradient check; the NaN rule; bad
 * input; and that a Sequential runs the pair through it.
 */
@ExtendWith(NoLeaks.class)
class ConvolutionPoolingTest {
    /** One geometry: input [n, h, w, c], kernel kh x kw -> oc, conv strides / padding / dilation, then the pool. */
    private record Case(int n, int h, int w, int c, int kh, int kw, int oc, int[] strides, String padding,
                        int[] dilation, int[] pool, int[] poolStrides, String poolPadding) {
        @Override
        public String toString() {
            return "[" + n + "," + h + "," + w + "," + c + "] k" + kh + "x" + kw + "->" + oc + " s" + Arrays.toString(strides)
                    + " " + padding + " d" + Arrays.toString(dilation) + " pool " + Arrays.toString(pool) + " /"
                    + Arrays.toString(poolStrides) + " " + poolPadding;
        }
    }

    private static final int[] ONE = {1, 1};

    /** Windows that do not overlap: strides at least the pool size (gaps and leftover rows and columns included). */
    private static final Case[] DISJOINT = {
        new Case(2, 8, 8, 3, 3, 3, 16, ONE, "same", ONE, new int[] {2, 2}, null, "valid"),
        new Case(2, 7, 9, 2, 3, 3, 5, ONE, "same", ONE, new int[] {2, 2}, null, "valid"),
        new Case(1, 9, 9, 4, 3, 3, 19, ONE, "valid", ONE, new int[] {3, 3}, null, "same"),
        new Case(2, 10, 9, 3, 2, 3, 8, new int[] {1, 2}, "same", ONE, new int[] {2, 3}, null, "same"),
        new Case(1, 11, 11, 2, 3, 3, 9, ONE, "same", new int[] {2, 2}, new int[] {2, 2}, new int[] {3, 3}, "valid"),
        new Case(3, 6, 6, 1, 3, 3, 32, new int[] {2, 2}, "same", ONE, new int[] {1, 1}, null, "valid"),
        // Our Winograd convolution (3x3, 5x5 and 7x7, stride 1, 16 or more channels each way) in both.
        new Case(2, 12, 10, 16, 5, 5, 24, ONE, "same", ONE, new int[] {2, 2}, null, "valid"),
        new Case(1, 9, 11, 20, 3, 3, 17, ONE, "valid", ONE, new int[] {2, 2}, null, "same"),
        new Case(2, 11, 9, 18, 7, 7, 16, ONE, "same", ONE, new int[] {2, 2}, null, "valid"),
    };

    /** Overlapping windows: a position's gradients are summed in another order than the two ops'. */
    private static final Case[] OVERLAPPING = {
        new Case(2, 9, 9, 3, 3, 3, 8, ONE, "same", ONE, new int[] {3, 3}, new int[] {2, 2}, "same"),
        new Case(1, 8, 8, 2, 3, 3, 17, ONE, "valid", ONE, new int[] {2, 2}, new int[] {1, 1}, "valid"),
    };

    private static float[] random(SplittableRandom r, int n, double scale) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) ((r.nextDouble() * 2 - 1) * scale);
        return v;
    }

    /** The forward and the gradients of x, kernel and bias for loss = sum(y * g), fused or as the two ops. */
    private static float[][] step(Case c, boolean fused, float[] x, float[] k, float[] b, SplittableRandom gRandom) {
        try (Scope s = Scope.open()) {
            Tensor tx = Tensor.of(x, c.n, c.h, c.w, c.c).setRequiresGrad(true);
            Tensor tk = Tensor.of(k, c.kh, c.kw, c.c, c.oc).setRequiresGrad(true);
            Tensor tb = Tensor.of(b, c.oc).setRequiresGrad(true);
            Tensor y = fused
                    ? ConvolutionPooling.conv2dReluMaxPool(tx, tk, tb, c.strides, c.padding, c.dilation, c.pool, c.poolStrides, c.poolPadding)
                    : Pooling.maxPool2d(Convolution.conv2dRelu(tx, tk, tb, c.strides, c.padding, c.dilation), c.pool,
                            c.poolStrides, c.poolPadding);
            if (fused) assertEquals("conv2dReluMaxPool", y.gradFn().op(), c + ": the fused op did not run");
            float[] g = random(gRandom, (int) y.numel(), 1);
            y.mul(Tensor.of(g, y.shape())).sum().backward();
            return new float[][] {y.toFloatArray(), tx.grad().toFloatArray(), tk.grad().toFloatArray(), tb.grad().toFloatArray()};
        }
    }

    private static float[][] both(Case c, long seed, boolean fused) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] x = random(r, c.n * c.h * c.w * c.c, 1);
        float[] k = random(r, c.kh * c.kw * c.c * c.oc, 0.5);
        float[] b = random(r, c.oc, 0.2);
        return step(c, fused, x, k, b, new SplittableRandom(seed + 1));
    }

    private static final String[] WHAT = {"output", "input gradient", "kernel gradient", "bias gradient"};

    @Test
    void float32EqualsTheTwoOpsBitForBitWhereWindowsDoNotOverlap() {
        for (Case c : DISJOINT) {
            float[][] want = both(c, 11, false);
            float[][] got = both(c, 11, true);
            for (int i = 0; i < 4; i++) assertArrayEquals(want[i], got[i], c + ": " + WHAT[i]);
            assertTrue(Arrays.stream(new float[][] {got[1]}).allMatch(v -> max(v) > 0), c + ": no gradient reached x");
        }
    }

    @Test
    void overlappingWindowsAgreeWithinFloat32Rounding() {
        for (Case c : OVERLAPPING) {
            float[][] want = both(c, 21, false);
            float[][] got = both(c, 21, true);
            for (int i = 0; i < 4; i++) {
                double scale = Math.max(max(want[i]), 1e-3);
                for (int j = 0; j < want[i].length; j++) {
                    assertEquals(want[i][j], got[i][j], 1e-5 * scale, c + ": " + WHAT[i] + " [" + j + "]");
                }
            }
        }
    }

    private static double max(float[] v) {
        double m = 0;
        for (float f : v) m = Math.max(m, Math.abs(f));
        return m;
    }

    @Test
    void bf16ModeEqualsTheTwoOpsInBf16BitForBit() {
        String why = MixedPrecision.bf16UnsupportedReason();
        assumeTrue(why == null, () -> "bf16: " + why);
        // At least 16 channels on both sides, so the convolution runs in bf16 (thinner ones stay f32).
        Case c = new Case(2, 10, 10, 16, 3, 3, 24, ONE, "same", ONE, new int[] {2, 2}, null, "valid");
        float[][] want;
        float[][] got;
        try (MixedPrecision.Scope p = MixedPrecision.use(Precision.BF16)) {
            want = both(c, 31, false);
            got = both(c, 31, true);
        }
        for (int i = 0; i < 4; i++) assertArrayEquals(want[i], got[i], "bf16 " + c + ": " + WHAT[i]);
        float[][] f32 = both(c, 31, true);
        assertFalse(Arrays.equals(f32[2], got[2]), "the bf16 run's kernel gradient equals the f32 run's: bf16 did not run");
    }

    @Test
    void nanWinsAWindowAndPassesNoGradient() {
        // A 1x1 identity convolution, so the pooled values are x itself: one window [NaN, 2; 1, 3], one [4, -1; 0, 5].
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.of(new float[] {Float.NaN, 2, 4, -1, 1, 3, 0, 5}, 1, 2, 4, 1).setRequiresGrad(true);
            Tensor k = Tensor.of(new float[] {1}, 1, 1, 1, 1);
            Tensor y = ConvolutionPooling.conv2dReluMaxPool(x, k, null, ONE, "valid", ONE, new int[] {2, 2}, null, "valid");
            float[] out = y.toFloatArray();
            assertTrue(Float.isNaN(out[0]), "the NaN window: " + out[0]);
            assertEquals(5f, out[1]);
            y.sum().backward();
            // The NaN window's gradient goes nowhere (ReLU's gradient at NaN is 0, as PyTorch's threshold_backward).
            assertArrayEquals(new float[] {0, 0, 0, 0, 0, 0, 0, 1}, x.grad().toFloatArray());
        }
    }

    @Test
    void aWindowWithNoPositiveValuePassesNoGradient() {
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.of(new float[] {-3, -2, 4, -1, -1, -5, 0, 2}, 1, 2, 4, 1).setRequiresGrad(true);
            Tensor k = Tensor.of(new float[] {1}, 1, 1, 1, 1);
            Tensor y = ConvolutionPooling.conv2dReluMaxPool(x, k, null, ONE, "valid", ONE, new int[] {2, 2}, null, "valid");
            assertArrayEquals(new float[] {0, 4}, y.toFloatArray());
            y.sum().backward();
            assertArrayEquals(new float[] {0, 0, 1, 0, 0, 0, 0, 0}, x.grad().toFloatArray());
        }
    }

    @Test
    void float64GradientCheckAndTheFloat32KernelsAgainstIt() {
        Case c = new Case(2, 6, 7, 2, 3, 3, 3, ONE, "same", ONE, new int[] {2, 2}, null, "same");
        SplittableRandom r = new SplittableRandom(41);
        double[] x = ConvForwardTest.random(r, c.n * c.h * c.w * c.c);
        double[] k = ConvForwardTest.random(r, c.kh * c.kw * c.c * c.oc);
        double[] b = ConvForwardTest.random(r, c.oc);
        double[] g = ConvForwardTest.random(r, 2 * 3 * 4 * 3);
        double[][] want = new double[4][];
        try (Scope s = Scope.open()) {
            Tensor tx = Tensor.of(x, c.n, c.h, c.w, c.c);
            Tensor tk = Tensor.of(k, c.kh, c.kw, c.c, c.oc);
            Tensor tb = Tensor.of(b, c.oc);
            Gradcheck.assertGradients("conv2dReluMaxPool f64", xs -> ConvolutionPooling.conv2dReluMaxPool(xs[0], xs[1], xs[2],
                    c.strides, c.padding, c.dilation, c.pool, c.poolStrides, c.poolPadding), tx, tk, tb);
            tx.setRequiresGrad(true);
            tk.setRequiresGrad(true);
            tb.setRequiresGrad(true);
            Tensor y = ConvolutionPooling.conv2dReluMaxPool(tx, tk, tb, c.strides, c.padding, c.dilation, c.pool, c.poolStrides,
                    c.poolPadding);
            assertArrayEquals(new long[] {2, 3, 4, 3}, y.shape());
            y.mul(Tensor.of(g, y.shape())).sum().backward();
            want = new double[][] {y.toDoubleArray(), tx.grad().toDoubleArray(), tk.grad().toDoubleArray(), tb.grad().toDoubleArray()};
        }
        try (Scope s = Scope.open()) {
            Tensor tx = Tensor.of(x, c.n, c.h, c.w, c.c).to(DType.F32).setRequiresGrad(true);
            Tensor tk = Tensor.of(k, c.kh, c.kw, c.c, c.oc).to(DType.F32).setRequiresGrad(true);
            Tensor tb = Tensor.of(b, c.oc).to(DType.F32).setRequiresGrad(true);
            Tensor y = ConvolutionPooling.conv2dReluMaxPool(tx, tk, tb, c.strides, c.padding, c.dilation, c.pool, c.poolStrides,
                    c.poolPadding);
            assertEquals("conv2dReluMaxPool", y.gradFn().op());
            y.mul(Tensor.of(g, y.shape()).to(DType.F32)).sum().backward();
            double[][] got = {y.toDoubleArray(), tx.grad().toDoubleArray(), tk.grad().toDoubleArray(), tb.grad().toDoubleArray()};
            for (int i = 0; i < 4; i++) {
                double scale = 0;
                for (double v : want[i]) scale = Math.max(scale, Math.abs(v));
                for (int j = 0; j < want[i].length; j++) {
                    assertEquals(want[i][j], got[i][j], 1e-5 * scale + 1e-6, WHAT[i] + " [" + j + "]");
                }
            }
        }
    }

    @Test
    void aFrozenKernelStillGetsItsBiasGradient() {
        Case c = DISJOINT[0];
        SplittableRandom r = new SplittableRandom(51);
        float[] x = random(r, c.n * c.h * c.w * c.c, 1);
        float[] k = random(r, c.kh * c.kw * c.c * c.oc, 0.5);
        float[] b = random(r, c.oc, 0.2);
        float[][] grads = new float[2][];
        for (int fused = 0; fused < 2; fused++) {
            try (Scope s = Scope.open()) {
                Tensor tx = Tensor.of(x, c.n, c.h, c.w, c.c);
                Tensor tk = Tensor.of(k, c.kh, c.kw, c.c, c.oc);
                Tensor tb = Tensor.of(b, c.oc).setRequiresGrad(true);
                Tensor y = fused == 1
                        ? ConvolutionPooling.conv2dReluMaxPool(tx, tk, tb, ONE, "same", ONE, c.pool, null, "valid")
                        : Pooling.maxPool2d(Convolution.conv2dRelu(tx, tk, tb, ONE, "same", ONE), c.pool, null, "valid");
                y.sum().backward();
                assertNull(tk.grad());
                grads[fused] = tb.grad().toFloatArray();
            }
        }
        assertArrayEquals(grads[0], grads[1]);
    }

    @Test
    void badInputNamesTheOpAndTheShapes() {
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.zeros(DType.F32, dev.soma.tensor.Device.cpu(), 1, 4, 4, 2);
            Tensor k = Tensor.zeros(DType.F32, dev.soma.tensor.Device.cpu(), 3, 3, 2, 4);
            ShapeException e = assertThrows(ShapeException.class, () -> ConvolutionPooling.conv2dReluMaxPool(x, k, null, ONE,
                    "valid", ONE, new int[] {3, 3}, null, "valid"));
            assertTrue(e.getMessage().contains("conv2dReluMaxPool") && e.getMessage().contains("convolution's output [1, 2, 2, 4]"),
                    e.getMessage());
            Tensor wrong = Tensor.zeros(DType.F32, dev.soma.tensor.Device.cpu(), 3, 3, 5, 4);
            e = assertThrows(ShapeException.class, () -> ConvolutionPooling.conv2dReluMaxPool(x, wrong, null, ONE, "same", ONE,
                    new int[] {2, 2}, null, "valid"));
            assertTrue(e.getMessage().contains("conv2dReluMaxPool") && e.getMessage().contains("5 input channels"), e.getMessage());
            e = assertThrows(ShapeException.class, () -> ConvolutionPooling.conv2dReluMaxPool(x, k, null, ONE, "same", ONE,
                    new int[] {2, 0}, null, "valid"));
            assertTrue(e.getMessage().contains("conv2dReluMaxPool") && e.getMessage().contains("pool size"), e.getMessage());
        }
    }

    @Test
    void aSequentialRunsConvReluAndMaxPoolAsOneOpWithTheSameResults() {
        try (Sequential m = new Sequential(new Conv2D(6, 3, "relu").padding("same"), new MaxPooling2D(2), new Flatten(),
                new Dense(3))) {
            m.build(new long[] {8, 8, 2});
            SplittableRandom r = new SplittableRandom(61);
            try (Scope s = Scope.open()) {
                Tensor x = Tensor.of(random(r, 4 * 8 * 8 * 2, 1), 4, 8, 8, 2);
                Tensor y = m.forwardTraining(x, false);
                assertEquals(1, count(y, "conv2dReluMaxPool"));
                Tensor h = x;
                for (int i = 0; i < 4; i++) h = m.layers().get(i).apply(h, true);
                assertEquals(0, count(h, "conv2dReluMaxPool"));
                assertArrayEquals(h.toFloatArray(), y.toFloatArray());
            }
        }
    }

    @Test
    void aFunctionalModelFusesAConvolutionThatOnlyItsPoolingReads() {
        Input in = Input.of(8, 8, 2);
        Conv2D alone = new Conv2D(6, 3, "relu").padding("same");
        MaxPooling2D pool1 = new MaxPooling2D(2);
        Flatten flat1 = new Flatten();
        // A convolution read by its pooling and by another layer stays two ops: its output is needed.
        Conv2D shared = new Conv2D(4, 3, "relu").padding("same");
        MaxPooling2D pool2 = new MaxPooling2D(2);
        Flatten flat2 = new Flatten();
        GlobalAveragePooling2D gap = new GlobalAveragePooling2D();
        Concatenate cat = new Concatenate();
        Dense head = new Dense(3);
        SymbolicTensor z = in.then(shared);
        SymbolicTensor out = SymbolicTensor.apply(cat, in.then(alone).then(pool1).then(flat1), z.then(pool2).then(flat2),
                z.then(gap)).then(head);
        try (FunctionalModel m = new FunctionalModel(List.of(in), List.of(out))) {
            m.build(8, 8, 2);
            SplittableRandom r = new SplittableRandom(71);
            try (Scope s = Scope.open()) {
                Tensor x = Tensor.of(random(r, 3 * 8 * 8 * 2, 1), 3, 8, 8, 2);
                Tensor y = m.forwardTraining(x, false);
                assertEquals(1, count(y, "conv2dReluMaxPool"));
                assertEquals(1, count(y, "conv2dRelu"));
                Tensor zs = shared.apply(x, true);
                Tensor want = head.apply(cat.apply(List.of(flat1.apply(pool1.apply(alone.apply(x, true), true), true),
                        flat2.apply(pool2.apply(zs, true), true), gap.apply(zs, true)), true), true);
                assertArrayEquals(want.toFloatArray(), y.toFloatArray());
            }
        }
    }

    /** How many nodes of the graph that produced t run {@code op}. */
    private static int count(Tensor t, String op) {
        Set<Object> seen = Collections.newSetFromMap(new IdentityHashMap<>());
        ArrayDeque<Tensor> todo = new ArrayDeque<>();
        todo.add(t);
        int n = 0;
        while (!todo.isEmpty()) {
            Tensor u = todo.pop();
            if (u == null || u.gradFn() == null || !seen.add(u.gradFn())) continue;
            if (u.gradFn().op().equals(op)) n++;
            todo.addAll(Arrays.asList(u.gradFn().inputs()));
        }
        return n;
    }
}
