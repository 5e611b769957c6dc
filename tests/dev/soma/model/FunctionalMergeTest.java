package dev.soma.model;

import dev.soma.autograd.Gradcheck;
import dev.soma.errors.ClosedTensorException;
import dev.soma.errors.DTypeException;
import dev.soma.errors.ShapeException;
import dev.soma.memory.Scope;
import dev.soma.nn.Add;
import dev.soma.nn.Concatenate;
import dev.soma.nn.Merge;
import dev.soma.nn.Multiply;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import dev.soma.testing.Reference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/** Merge layers: forward against plain Java loops, gradients in float64, and their validation. */
@ExtendWith(NoLeaks.class)
class FunctionalMergeTest {
    private static double[] random(int n, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        double[] d = new double[n];
        for (int i = 0; i < n; i++) d[i] = r.nextDouble(-2, 2);
        return d;
    }

    private static float[] f32(double[] d) {
        float[] f = new float[d.length];
        for (int i = 0; i < d.length; i++) f[i] = (float) d[i];
        return f;
    }

    @Test
    void addAndMultiplyMatchAPlainLoop() {
        try (Scope s = Scope.open()) {
            double[] a = random(24, 1), b = random(24, 2), c = random(24, 3);
            List<Tensor> in = List.of(Tensor.of(f32(a), 4, 6), Tensor.of(f32(b), 4, 6), Tensor.of(f32(c), 4, 6));
            double[] sum = new double[24], prod = new double[24];
            for (int i = 0; i < 24; i++) {
                sum[i] = (float) a[i] + (float) b[i] + (float) c[i];
                prod[i] = (double) (float) a[i] * (float) b[i] * (float) c[i];
            }
            Reference.assertClose(Reference.toDouble(new Add().apply(in, false).toFloatArray()), sum, Reference.ELEMENTWISE_F32);
            Reference.assertClose(Reference.toDouble(new Multiply().apply(in, false).toFloatArray()), prod,
                    Reference.ELEMENTWISE_F32);
        }
    }

    @Test
    void concatenateJoinsTheChosenAxisLikeAPlainLoop() {
        try (Scope s = Scope.open()) {
            // Per-example shapes [2, 3] and [2, 5] joined on the last axis; [2, 3] and [4, 3] on axis 1.
            double[] a = random(3 * 2 * 3, 4), b = random(3 * 2 * 5, 5), c = random(3 * 4 * 3, 6);
            Tensor ta = Tensor.of(f32(a), 3, 2, 3), tb = Tensor.of(f32(b), 3, 2, 5), tc = Tensor.of(f32(c), 3, 4, 3);
            Tensor last = new Concatenate().apply(List.of(ta, tb), false);
            assertArrayEquals(new long[] {3, 2, 8}, last.shape());
            float[] got = last.toFloatArray();
            for (int n = 0; n < 3; n++)
                for (int i = 0; i < 2; i++)
                    for (int j = 0; j < 8; j++) {
                        double want = j < 3 ? (float) a[(n * 2 + i) * 3 + j] : (float) b[(n * 2 + i) * 5 + j - 3];
                        assertEquals(want, got[(n * 2 + i) * 8 + j], 0.0, "last-axis concat at " + n + "," + i + "," + j);
                    }
            Concatenate axis1 = new Concatenate(1);
            assertArrayEquals(new long[] {6, 3}, axis1.computeOutputShape(List.of(new long[] {2, 3}, new long[] {4, 3})));
            float[] g1 = axis1.apply(List.of(ta, tc), false).toFloatArray();
            for (int n = 0; n < 3; n++)
                for (int i = 0; i < 6; i++)
                    for (int j = 0; j < 3; j++) {
                        double want = i < 2 ? (float) a[(n * 2 + i) * 3 + j] : (float) c[(n * 4 + i - 2) * 3 + j];
                        assertEquals(want, g1[(n * 6 + i) * 3 + j], 0.0, "axis-1 concat at " + n + "," + i + "," + j);
                    }
        }
    }

    @Test
    void gradientsMatchFiniteDifferences() {
        try (Scope s = Scope.open()) {
            Tensor a = Tensor.of(random(12, 7), 3, 4), b = Tensor.of(random(12, 8), 3, 4), c = Tensor.of(random(6, 9), 3, 2);
            Add add = new Add();
            Multiply mul = new Multiply();
            Concatenate cat = new Concatenate();
            Gradcheck.assertGradients("add", xs -> add.apply(List.of(xs[0], xs[1], xs[0]), true), a, b);
            Gradcheck.assertGradients("multiply", xs -> mul.apply(List.of(xs[0], xs[1], xs[0]), true), a, b);
            Gradcheck.assertGradients("concatenate", xs -> cat.apply(List.of(xs[0], xs[1], xs[2]), true), a, c, b);
            Tensor d = Tensor.of(random(24, 10), 3, 2, 4), e = Tensor.of(random(18, 11), 3, 2, 3);
            Concatenate axis2 = new Concatenate(2);
            Gradcheck.assertGradients("concatenate axis 2", xs -> axis2.apply(List.of(xs[0], xs[1]), true), d, e);
        }
    }

    @Test
    void badInputsAreRejectedNamingTheLayerAndShapes() {
        try (Scope s = Scope.open()) {
            Add add = new Add();
            Tensor x = Tensor.zeros(2, 3), y = Tensor.zeros(2, 4);
            ShapeException e = assertThrows(ShapeException.class, () -> add.apply(List.of(x, y), false));
            assertTrue(e.getMessage().contains(add.name()) && e.getMessage().contains("[3], [4]"), e.getMessage());
            e = assertThrows(ShapeException.class, () -> new Multiply().computeOutputShape(List.of(new long[] {3})));
            assertTrue(e.getMessage().contains("at least 2 inputs"), e.getMessage());
            e = assertThrows(ShapeException.class, () -> add.apply(List.of(x, Tensor.zeros(5, 3)), false));
            assertTrue(e.getMessage().contains("batch size") && e.getMessage().contains("[5, 3]"), e.getMessage());
            DTypeException de = assertThrows(DTypeException.class,
                    () -> add.apply(List.of(x, Tensor.of(new double[6], 2, 3)), false));
            assertTrue(de.getMessage().contains(add.name()) && de.getMessage().contains("float64"), de.getMessage());

            Concatenate cat = new Concatenate();
            e = assertThrows(ShapeException.class,
                    () -> cat.computeOutputShape(List.of(new long[] {2, 3}, new long[] {4, 3})));
            assertTrue(e.getMessage().contains("only along axis -1") && e.getMessage().contains("[2, 3], [4, 3]"), e.getMessage());
            e = assertThrows(ShapeException.class, () -> cat.computeOutputShape(List.of(new long[] {2, 3}, new long[] {3})));
            assertTrue(e.getMessage().contains("same rank"), e.getMessage());
            e = assertThrows(ShapeException.class,
                    () -> new Concatenate(0).computeOutputShape(List.of(new long[] {3}, new long[] {3})));
            assertTrue(e.getMessage().contains("axis 0 is out of range"), e.getMessage());
            e = assertThrows(ShapeException.class,
                    () -> new Concatenate(3).computeOutputShape(List.of(new long[] {3}, new long[] {3})));
            assertTrue(e.getMessage().contains("axis 3 is out of range"), e.getMessage());

            Merge m = new Add();
            assertThrows(UnsupportedOperationException.class, () -> m.apply(x, false));
            Tensor closed = Tensor.zeros(2, 3);
            closed.close();
            assertThrows(ClosedTensorException.class, () -> add.apply(List.of(x, closed), false));
        }
    }
}
