package dev.soma.ops;

import dev.soma.autograd.Gradcheck;
import dev.soma.errors.ClosedTensorException;
import dev.soma.errors.DTypeException;
import dev.soma.errors.ShapeException;
import dev.soma.memory.Scope;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import dev.soma.testing.Reference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/** softmax and logSoftmax along any axis: forward against a plain loop, stability, gradients, bad input. */
@ExtendWith(NoLeaks.class)
class SoftmaxTest {
    /** Plain (max-subtracted, double) softmax or log-softmax of row-major data along axis. */
    static double[] reference(double[] x, long[] shape, int axis, boolean log) {
        int rank = shape.length;
        int ax = axis < 0 ? axis + rank : axis;
        long inner = 1;
        for (int d = ax + 1; d < rank; d++) inner *= shape[d];
        long n = shape[ax];
        long outer = x.length / (n * inner);
        double[] y = new double[x.length];
        for (long o = 0; o < outer; o++)
            for (long i = 0; i < inner; i++) {
                double m = Double.NEGATIVE_INFINITY;
                for (long k = 0; k < n; k++) m = Math.max(m, x[(int) ((o * n + k) * inner + i)]);
                double s = 0;
                for (long k = 0; k < n; k++) s += Math.exp(x[(int) ((o * n + k) * inner + i)] - m);
                for (long k = 0; k < n; k++) {
                    int at = (int) ((o * n + k) * inner + i);
                    y[at] = log ? x[at] - m - Math.log(s) : Math.exp(x[at] - m) / s;
                }
            }
        return y;
    }

    private static double[] gaussian(int n, long seed, double scale) {
        SplittableRandom r = new SplittableRandom(seed);
        double[] v = new double[n];
        for (int i = 0; i < n; i++) v[i] = scale * r.nextGaussian();
        return v;
    }

    private static float[] toFloat(double[] d) {
        float[] f = new float[d.length];
        for (int i = 0; i < d.length; i++) f[i] = (float) d[i];
        return f;
    }

    private static double[] toDouble(float[] f) {
        return Reference.toDouble(f);
    }

    @Test
    void softmaxAndLogSoftmaxMatchAPlainLoopAlongEveryAxis() {
        long[] shape = {3, 4, 5};
        double[] v = gaussian(60, 21, 3);
        double[] v32 = toDouble(toFloat(v));
        try (Scope s = Scope.open()) {
            Tensor t32 = Tensor.of(toFloat(v), shape);
            Tensor t64 = Tensor.of(v, shape);
            for (int axis = -3; axis < 3; axis++) {
                for (boolean log : new boolean[] {false, true}) {
                    Tensor o32 = log ? t32.logSoftmax(axis) : t32.softmax(axis);
                    Tensor o64 = log ? t64.logSoftmax(axis) : t64.softmax(axis);
                    assertArrayEquals(shape, o32.shape());
                    Reference.assertClose(toDouble(o32.toFloatArray()), reference(v32, shape, axis, log),
                            Reference.REDUCTION_F32);
                    Reference.assertClose(o64.toDoubleArray(), reference(v, shape, axis, log), 1e-13);
                }
            }
            // softmax rows sum to one
            double[] p = t32.softmax(1).sum(new int[] {1}, false).toDoubleArray();
            for (double x : p) assertEquals(1.0, x, 1e-5);
        }
    }

    @Test
    void hugeLogitsStayFinite() {
        float[] v = {1e4f, -1e4f, 0, 1e4f, -1e4f, -1e4f, 5e3f, -5e3f};
        long[] shape = {2, 4};
        try (Scope s = Scope.open()) {
            Tensor t = Tensor.of(v, shape);
            for (boolean log : new boolean[] {false, true}) {
                double[] out = toDouble((log ? t.logSoftmax(-1) : t.softmax(-1)).toFloatArray());
                for (double x : out) assertTrue(Double.isFinite(x), "non-finite output " + java.util.Arrays.toString(out));
                Reference.assertClose(out, reference(toDouble(v), shape, -1, log), Reference.REDUCTION_F32);
            }
            double[] soft = toDouble(t.softmax(1).toFloatArray());
            assertEquals(0.5, soft[0], 1e-6);
            assertEquals(0.5, soft[3], 1e-6);
            assertEquals(1.0, soft[6], 1e-6);
            assertEquals(-2e4, t.logSoftmax(1).toDoubleArray()[1] + 0.0, 1.0); // -1e4 - (1e4 + log 2)
        }
    }

    @Test
    void gradientsAlongEveryAxis() {
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.of(gaussian(24, 4, 2), 2, 3, 4);
            for (int axis = -3; axis < 3; axis++) {
                int a = axis;
                Gradcheck.assertGradients("softmax axis " + a, xs -> xs[0].softmax(a), x);
                Gradcheck.assertGradients("logSoftmax axis " + a, xs -> xs[0].logSoftmax(a), x);
            }
            // through a non-contiguous input and into a reduction
            Gradcheck.assertGradients("softmax of transposed, then max",
                    xs -> xs[0].transpose(0, 2).softmax(1).max(new int[] {1}, false), x);
            Gradcheck.assertGradients("logSoftmax then mean",
                    xs -> xs[0].logSoftmax(-1).mean(new int[] {0, 2}, true), x);
        }
    }

    @Test
    void badInputIsRejectedWithTheOpName() {
        try (Scope s = Scope.open()) {
            Tensor t = Tensor.zeros(2, 3);
            ShapeException e = assertThrows(ShapeException.class, () -> t.softmax(2));
            assertTrue(e.getMessage().startsWith("softmax: axis 2 is out of range for rank 2"), e.getMessage());
            e = assertThrows(ShapeException.class, () -> t.logSoftmax(-3));
            assertTrue(e.getMessage().startsWith("logSoftmax: axis -3"), e.getMessage());
            e = assertThrows(ShapeException.class, () -> Tensor.scalar(1).softmax(0));
            assertTrue(e.getMessage().startsWith("softmax: axis 0 is out of range for rank 0"), e.getMessage());
            DTypeException d = assertThrows(DTypeException.class, () -> Tensor.ofInts(new int[] {1, 2}).softmax(0));
            assertTrue(d.getMessage().startsWith("softmax:") && d.getMessage().contains("int32"), d.getMessage());
            Tensor closed = Tensor.zeros(3);
            closed.close();
            ClosedTensorException c = assertThrows(ClosedTensorException.class, () -> closed.logSoftmax(0));
            assertTrue(c.getMessage().startsWith("logSoftmax:"), c.getMessage());
            // empty inputs give empty outputs, never a native call on nothing
            assertArrayEquals(new long[] {0, 3}, Tensor.zeros(0, 3).softmax(1).shape());
        }
    }

    @Test
    void closedOutputBeforeBackwardIsReported() {
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.of(new double[] {1, 2, 3}).setRequiresGrad(true);
            Tensor y = x.softmax(0);
            Tensor total = y.sum();
            y.close();
            assertThrows(ClosedTensorException.class, total::backward);
        }
    }
}
