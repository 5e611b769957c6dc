package dev.soma.ops;

import dev.soma.autograd.Gradcheck;
import dev.soma.errors.DTypeException;
import dev.soma.errors.ShapeException;
import dev.soma.memory.Scope;
import dev.soma.tensor.DType;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import dev.soma.testing.Reference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.function.Executable;

import java.util.Arrays;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/**
 * conv2dTranspose: forward against a plain Java scatter (each input pixel adds kernel * value into its output
 * window, TensorFlow's padding), f64 gradients of x, kernel and bias, f32 (oneDNN) against f64, bad inputs.
 */
@ExtendWith(NoLeaks.class)
class TransposedConvTest {
    /** N, H, W, C, KH, KW, F, SH, SW, same (1/0). */
    private static final int[][] CASES = {
        {2, 4, 4, 3, 3, 3, 2, 1, 1, 0},
        {2, 4, 4, 3, 3, 3, 2, 1, 1, 1},
        {2, 3, 4, 2, 4, 4, 3, 2, 2, 1},   // DCGAN's 4x4 stride 2 same
        {1, 3, 3, 2, 5, 5, 2, 2, 2, 1},   // kernel not a multiple of the stride, odd padding total
        {1, 3, 2, 2, 3, 2, 2, 2, 3, 1},   // kernel smaller than the stride along the width
        {2, 3, 3, 1, 3, 2, 2, 2, 3, 0},   // valid with kernel < stride: trailing zeros (plus bias)
        {1, 2, 3, 3, 2, 3, 4, 3, 1, 0},
        {2, 5, 5, 16, 3, 3, 8, 2, 2, 1},  // wide enough for oneDNN's blocked kernels
    };

    static long outLength(int in, int k, int s, boolean same) {
        return same ? (long) in * s : (long) in * s + Math.max(k - s, 0);
    }

    /** The scatter definition with Keras/TF sizes and padding (odd pixel of the padding at the bottom/right). */
    static double[] reference(double[] x, double[] k, double[] b, int[] c) {
        int n = c[0], h = c[1], w = c[2], ch = c[3], kh = c[4], kw = c[5], f = c[6], sh = c[7], sw = c[8];
        boolean same = c[9] == 1;
        int oh = (int) outLength(h, kh, sh, same), ow = (int) outLength(w, kw, sw, same);
        int padTop = same ? Math.max(kh - sh, 0) / 2 : 0;
        int padLeft = same ? Math.max(kw - sw, 0) / 2 : 0;
        double[] y = new double[n * oh * ow * f];
        for (int bi = 0; bi < n; bi++)
            for (int i = 0; i < h; i++)
                for (int j = 0; j < w; j++)
                    for (int ci = 0; ci < ch; ci++) {
                        double v = x[((bi * h + i) * w + j) * ch + ci];
                        for (int a = 0; a < kh; a++)
                            for (int bb = 0; bb < kw; bb++) {
                                int oi = i * sh + a - padTop, oj = j * sw + bb - padLeft;
                                if (oi < 0 || oi >= oh || oj < 0 || oj >= ow) continue;
                                for (int fi = 0; fi < f; fi++) {
                                    y[((bi * oh + oi) * ow + oj) * f + fi] += v * k[((a * kw + bb) * f + fi) * ch + ci];
                                }
                            }
                    }
        if (b != null) for (int i = 0; i < y.length; i++) y[i] += b[i % f];
        return y;
    }

    private static Tensor run(DType dt, int[] c, double[] xv, double[] kv, double[] bv) {
        Tensor x = ConvForwardTest.tensor(xv, dt, c[0], c[1], c[2], c[3]);
        Tensor k = ConvForwardTest.tensor(kv, dt, c[4], c[5], c[6], c[3]);
        Tensor b = bv == null ? null : ConvForwardTest.tensor(bv, dt, c[6]);
        return TransposedConvolution.conv2dTranspose(x, k, b, new int[] {c[7], c[8]}, c[9] == 1 ? "same" : "valid");
    }

    @Test
    void forwardMatchesTheScatterReference() {
        SplittableRandom r = new SplittableRandom(11);
        for (int[] c : CASES) {
            double[] xv = ConvForwardTest.random(r, c[0] * c[1] * c[2] * c[3]);
            double[] kv = ConvForwardTest.random(r, c[4] * c[5] * c[6] * c[3]);
            double[] bv = ConvForwardTest.random(r, c[6]);
            for (DType dt : new DType[] {DType.F32, DType.F64}) {
                for (boolean withBias : new boolean[] {true, false}) {
                    try (Scope s = Scope.open()) {
                        Tensor y = run(dt, c, xv, kv, withBias ? bv : null);
                        boolean same = c[9] == 1;
                        assertArrayEquals(new long[] {c[0], outLength(c[1], c[4], c[7], same), outLength(c[2], c[5], c[8], same), c[6]},
                                y.shape(), Arrays.toString(c));
                        double err = Reference.relativeError(y.toDoubleArray(), reference(xv, kv, withBias ? bv : null, c));
                        assertTrue(err <= Reference.REDUCTION_F32, Arrays.toString(c) + " " + dt + ": relative error " + err);
                    }
                }
            }
        }
    }

    @Test
    void gradientsOfInputKernelAndBias() {
        SplittableRandom r = new SplittableRandom(12);
        for (int[] c : CASES) {
            if (c[3] > 4) continue;   // keep the f64 finite differences small
            try (Scope s = Scope.open()) {
                Tensor x = Tensor.of(ConvForwardTest.random(r, c[0] * c[1] * c[2] * c[3]), c[0], c[1], c[2], c[3]);
                Tensor k = Tensor.of(ConvForwardTest.random(r, c[4] * c[5] * c[6] * c[3]), c[4], c[5], c[6], c[3]);
                Tensor b = Tensor.of(ConvForwardTest.random(r, c[6]), c[6]);
                int[] st = {c[7], c[8]};
                String pad = c[9] == 1 ? "same" : "valid";
                String label = "conv2dTranspose " + Arrays.toString(c);
                Gradcheck.assertGradients(label, xs -> TransposedConvolution.conv2dTranspose(xs[0], xs[1], xs[2], st, pad), x, k, b);
                Gradcheck.assertGradients(label + " no bias", xs -> TransposedConvolution.conv2dTranspose(xs[0], xs[1], null, st, pad), x, k);
                Gradcheck.assertGradients(label + " input only", xs -> TransposedConvolution.conv2dTranspose(xs[0], k, b, st, pad), x);
                Gradcheck.assertGradients(label + " kernel only", xs -> TransposedConvolution.conv2dTranspose(x, xs[0], null, st, pad), k);
            }
        }
    }

    /** The f32 passes (oneDNN) give the checked f64 passes' gradients on the same values. */
    @Test
    void oneDnnBackwardMatchesTheCheckedF64Backward() {
        SplittableRandom r = new SplittableRandom(13);
        for (int[] c : CASES) {
            double[] xv = ConvForwardTest.random(r, c[0] * c[1] * c[2] * c[3]);
            double[] kv = ConvForwardTest.random(r, c[4] * c[5] * c[6] * c[3]);
            double[] bv = ConvForwardTest.random(r, c[6]);
            double[][] g64 = grads(DType.F64, c, xv, kv, bv);
            double[][] g32 = grads(DType.F32, c, xv, kv, bv);
            String[] names = {"input", "kernel", "bias"};
            for (int i = 0; i < 3; i++) {
                double err = Reference.relativeError(g32[i], g64[i]);
                assertTrue(err <= Reference.REDUCTION_F32, Arrays.toString(c) + " " + names[i] + ": relative error " + err);
            }
        }
    }

    private static double[][] grads(DType dt, int[] c, double[] xv, double[] kv, double[] bv) {
        try (Scope s = Scope.open()) {
            Tensor x = ConvForwardTest.tensor(xv, dt, c[0], c[1], c[2], c[3]).setRequiresGrad(true);
            Tensor k = ConvForwardTest.tensor(kv, dt, c[4], c[5], c[6], c[3]).setRequiresGrad(true);
            Tensor b = ConvForwardTest.tensor(bv, dt, c[6]).setRequiresGrad(true);
            Tensor y = TransposedConvolution.conv2dTranspose(x, k, b, new int[] {c[7], c[8]}, c[9] == 1 ? "same" : "valid");
            double[] wv = new double[(int) y.numel()];
            for (int i = 0; i < wv.length; i++) wv[i] = Math.sin(0.37 * i) + 0.1;
            y.backward(ConvForwardTest.tensor(wv, dt, y.shape()));
            double[][] out = {x.grad().toDoubleArray(), k.grad().toDoubleArray(), b.grad().toDoubleArray()};
            x.zeroGrad();
            k.zeroGrad();
            b.zeroGrad();
            return out;
        }
    }

    /** A DCGAN generator's upsampling steps run on oneDNN's optimised kernels, not its reference ones. */
    @Test
    void dcganShapesAreNotReferenceKernels() {
        try (Scope s = Scope.open()) {
            long[][] shapes = {{64, 7, 7, 128, 64}, {64, 14, 14, 64, 1}};   // N, H, W, C, F; 4x4 kernel, stride 2 same
            for (long[] c : shapes) {
                String[] impl = TransposedConvolution.implementations(Tensor.zeros(c[0], c[1], c[2], c[3]),
                        Tensor.zeros(4, 4, c[4], c[3]), new int[] {2, 2}, "same");
                assertEquals(3, impl.length);
                for (String i : impl) {
                    assertTrue(i.startsWith("onednn "), Arrays.toString(impl));
                    assertFalse(i.contains("ref"), Arrays.toString(c) + " on a reference kernel: " + Arrays.toString(impl));
                }
                System.out.println("conv2dTranspose " + Arrays.toString(c) + " passes: " + Arrays.toString(impl));
            }
        }
    }

    private static String shapeError(Executable e) {
        return assertThrows(ShapeException.class, e).getMessage();
    }

    @Test
    void badInputsNameTheOpAndShapes() {
        int[] two = {2, 2};
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.zeros(2, 4, 4, 3);
            Tensor k = Tensor.zeros(4, 4, 5, 3);
            String m = shapeError(() -> TransposedConvolution.conv2dTranspose(Tensor.zeros(4, 4, 3), k, null, two, "same"));
            assertTrue(m.startsWith("conv2dTranspose: input float32[4, 4, 3]") && m.contains("expected rank 4"), m);
            m = shapeError(() -> TransposedConvolution.conv2dTranspose(x, Tensor.zeros(4, 4, 3), null, two, "same"));
            assertTrue(m.startsWith("conv2dTranspose: kernel float32[4, 4, 3]") && m.contains("filters, in_channels"), m);
            m = shapeError(() -> TransposedConvolution.conv2dTranspose(x, Tensor.zeros(4, 4, 3, 5), null, two, "same"));
            assertTrue(m.startsWith("conv2dTranspose: kernel float32[4, 4, 3, 5]") && m.contains("expects 5 input channels")
                    && m.contains("float32[2, 4, 4, 3]"), m);
            m = shapeError(() -> TransposedConvolution.conv2dTranspose(x, k, Tensor.zeros(3), two, "same"));
            assertTrue(m.startsWith("conv2dTranspose: bias float32[3]") && m.contains("must have shape [5]"), m);
            m = shapeError(() -> TransposedConvolution.conv2dTranspose(x, k, null, new int[] {0, 2}, "same"));
            assertTrue(m.startsWith("conv2dTranspose: strides must be positive"), m);
            m = shapeError(() -> TransposedConvolution.conv2dTranspose(x, k, null, two, "full"));
            assertTrue(m.startsWith("conv2dTranspose: padding must be"), m);
            m = shapeError(() -> TransposedConvolution.conv2dTranspose(x, Tensor.zeros(0, 4, 5, 3), null, two, "same"));
            assertTrue(m.contains("empty dimension"), m);
            m = shapeError(() -> TransposedConvolution.conv2dTranspose(Tensor.zeros(2, 0, 4, 3), k, null, two, "same"));
            assertTrue(m.contains("float32[2, 0, 4, 3]"), m);
            m = shapeError(() -> TransposedConvolution.conv2dTranspose(x, k, null,
                    new int[] {1 << 30, 1 << 30}, "same"));
            assertTrue(m.startsWith("conv2dTranspose: ") && m.contains("overflow"), m);
            m = assertThrows(DTypeException.class, () -> TransposedConvolution.conv2dTranspose(x, k.to(DType.F64), null, two, "same")).getMessage();
            assertTrue(m.startsWith("conv2dTranspose"), m);
            Tensor closed = Tensor.zeros(2, 4, 4, 3);
            closed.close();
            assertThrows(dev.soma.errors.ClosedTensorException.class,
                    () -> TransposedConvolution.conv2dTranspose(closed, k, null, two, "same"));
        }
    }

    @Test
    void emptyBatchGivesEmptyOutputAndZeroGradients() {
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.zeros(DType.F64, dev.soma.tensor.Device.cpu(), 0, 3, 3, 2).setRequiresGrad(true);
            Tensor k = Tensor.ones(DType.F64, dev.soma.tensor.Device.cpu(), 3, 3, 4, 2).setRequiresGrad(true);
            Tensor y = TransposedConvolution.conv2dTranspose(x, k, null, new int[] {2, 2}, "same");
            assertArrayEquals(new long[] {0, 6, 6, 4}, y.shape());
            y.sum().backward();
            assertEquals(0.0, k.grad().abs().sum().item());
        }
    }
}
