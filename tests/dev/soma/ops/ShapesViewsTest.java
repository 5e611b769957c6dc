package dev.soma.ops;

import dev.soma.autograd.Gradcheck;
import dev.soma.errors.ClosedTensorException;
import dev.soma.errors.ShapeException;
import dev.soma.memory.Scope;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** slice, select, squeeze, unsqueeze: views checked against plain Java index arithmetic. */
@ExtendWith(NoLeaks.class)
class ShapesViewsTest {
    private static double[] values(int n) {
        double[] d = new double[n];
        for (int i = 0; i < n; i++) d[i] = Math.sin(0.7 * i) + 0.01 * i;
        return d;
    }

    private static float[] iota(int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = i;
        return v;
    }

    /** Python's range(start, end, step) over a dimension of {@code size}, as the reference for slice. */
    private static List<Integer> pyRange(long start, long end, long step, int size) {
        long s = start < 0 ? start + size : start;
        long e = end < 0 ? end + size : end;
        s = Math.max(0, Math.min(size, s));
        e = Math.max(0, Math.min(size, e));
        List<Integer> out = new ArrayList<>();
        for (long i = s; i < e; i += step) out.add((int) i);
        return out;
    }

    @Test
    void sliceMatchesPythonSemanticsOnEveryDimension() {
        try (Scope s = Scope.open()) {
            int a = 4, b = 7, c = 5;
            float[] v = iota(a * b * c);
            Tensor t = Tensor.of(v, a, b, c);
            long[][] cases = {{0, 7, 1}, {1, 6, 2}, {-3, Long.MAX_VALUE, 1}, {-100, 100, 3}, {5, 2, 1}, {2, -1, 4},
                {Long.MIN_VALUE, -2, 2}, {7, 9, 1}};
            for (int dim = 0; dim < 3; dim++) {
                int size = (int) t.size(dim);
                for (long[] k : cases) {
                    List<Integer> idx = pyRange(k[0], k[1], k[2], size);
                    Tensor sl = t.slice(dim, k[0], k[1], k[2]);
                    long[] shape = t.shape();
                    shape[dim] = idx.size();
                    assertArrayEquals(shape, sl.shape(), "slice shape, dim " + dim + " case " + k[0] + ":" + k[1] + ":" + k[2]);
                    float[] got = sl.toFloatArray();
                    int n = 0;
                    for (int i = 0; i < shape[0]; i++)
                        for (int j = 0; j < shape[1]; j++)
                            for (int l = 0; l < shape[2]; l++) {
                                int[] src = {i, j, l};
                                src[dim] = idx.get(src[dim]);
                                assertEquals(v[src[0] * b * c + src[1] * c + src[2]], got[n++]);
                            }
                }
            }
            // A slice shares storage: it is a view, not a copy.
            Tensor view = t.slice(1, 2, 4, 1);
            assertEquals(t.offset() + 2 * c, view.offset());
            assertArrayEquals(t.strides(), view.strides());
            // Negative dims and slices of slices.
            Tensor twice = t.slice(-1, 1, 5, 2).slice(-1, 1, 2, 1);
            assertArrayEquals(new long[] {a, b, 1}, twice.shape());
            assertEquals(v[3], twice.toFloatArray()[0]);
        }
    }

    @Test
    void selectDropsTheDimensionAndCountsFromTheEnd() {
        try (Scope s = Scope.open()) {
            float[] v = iota(24);
            Tensor t = Tensor.of(v, 2, 3, 4);
            Tensor r = t.select(1, -1);
            assertArrayEquals(new long[] {2, 4}, r.shape());
            float[] got = r.toFloatArray();
            for (int i = 0; i < 2; i++)
                for (int k = 0; k < 4; k++) assertEquals(v[i * 12 + 2 * 4 + k], got[i * 4 + k]);
            Tensor e = t.select(2, 3).select(0, 1);
            assertArrayEquals(new float[] {15, 19, 23}, e.toFloatArray());
            Tensor scalar = Tensor.of(new float[] {5, 6, 7}).select(0, 1);
            assertEquals(0, scalar.ndim());
            assertEquals(6.0, scalar.item());
            // Select of a transposed (strided) view.
            Tensor col = t.transpose(1, 2).select(1, 2);
            assertArrayEquals(new long[] {2, 3}, col.shape());
            assertArrayEquals(new float[] {2, 6, 10, 14, 18, 22}, col.toFloatArray());
        }
    }

    @Test
    void squeezeAndUnsqueezeKeepContiguityAndValues() {
        try (Scope s = Scope.open()) {
            float[] v = iota(6);
            Tensor t = Tensor.of(v, 2, 3);
            for (int d = -3; d <= 2; d++) {
                Tensor u = t.unsqueeze(d);
                int pos = d < 0 ? d + 3 : d;
                long[] expected = pos == 0 ? new long[] {1, 2, 3} : pos == 1 ? new long[] {2, 1, 3} : new long[] {2, 3, 1};
                assertArrayEquals(expected, u.shape(), "unsqueeze " + d);
                assertTrue(u.isContiguous(), "unsqueeze " + d + " of a contiguous tensor stays contiguous");
                assertArrayEquals(v, u.toFloatArray());
                Tensor back = u.squeeze(pos);
                assertArrayEquals(new long[] {2, 3}, back.shape());
                assertArrayEquals(t.strides(), back.strides());
            }
            Tensor transposed = t.transpose(0, 1).unsqueeze(1);
            assertArrayEquals(new long[] {3, 1, 2}, transposed.shape());
            assertArrayEquals(new float[] {0, 3, 1, 4, 2, 5}, transposed.toFloatArray());
            Tensor zeroD = Tensor.scalar(4).unsqueeze(0);
            assertArrayEquals(new long[] {1}, zeroD.shape());
            assertEquals(0, zeroD.squeeze(-1).ndim());
        }
    }

    @Test
    void gradientsOfViewsInFloat64() {
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.of(values(60), 3, 4, 5);
            Gradcheck.assertGradients("slice", xs -> xs[0].slice(1, 1, 4, 2), x);
            Gradcheck.assertGradients("slice negative", xs -> xs[0].slice(-1, -4, -1, 1), x);
            Gradcheck.assertGradients("slice empty", xs -> xs[0].slice(0, 2, 1, 1), x);
            Gradcheck.assertGradients("slice of transposed", xs -> xs[0].transpose(0, 2).slice(0, 0, 5, 3), x);
            Gradcheck.assertGradients("select", xs -> xs[0].select(1, -2), x);
            Gradcheck.assertGradients("select twice", xs -> xs[0].select(2, 4).select(0, 1), x);
            Gradcheck.assertGradients("unsqueeze", xs -> xs[0].unsqueeze(2), x);
            Gradcheck.assertGradients("unsqueeze last", xs -> xs[0].unsqueeze(-1), x);
            Tensor y = Tensor.of(values(12), 3, 1, 4);
            Gradcheck.assertGradients("squeeze", xs -> xs[0].squeeze(1), y);
            Gradcheck.assertGradients("squeeze of slice", xs -> xs[0].slice(2, 1, 3, 1).squeeze(-2), y);
        }
    }

    @Test
    void badArgumentsNameTheOpAndTheTensor() {
        try (Scope s = Scope.open()) {
            Tensor t = Tensor.zeros(2, 3);
            ShapeException step = assertThrows(ShapeException.class, () -> t.slice(0, 0, 2, 0));
            assertTrue(step.getMessage().startsWith("slice: step 0") && step.getMessage().contains("[2, 3]"), step.getMessage());
            assertThrows(ShapeException.class, () -> t.slice(0, 0, 2, -1));
            ShapeException dim = assertThrows(ShapeException.class, () -> t.slice(2, 0, 1, 1));
            assertTrue(dim.getMessage().startsWith("slice: axis 2"), dim.getMessage());

            ShapeException sel = assertThrows(ShapeException.class, () -> t.select(1, 3));
            assertTrue(sel.getMessage().startsWith("select: index 3") && sel.getMessage().contains("size 3")
                    && sel.getMessage().contains("[2, 3]"), sel.getMessage());
            assertThrows(ShapeException.class, () -> t.select(0, -3));
            assertThrows(ShapeException.class, () -> t.select(-3, 0));
            assertThrows(ShapeException.class, () -> Tensor.scalar(1).select(0, 0));

            ShapeException sq = assertThrows(ShapeException.class, () -> t.squeeze(1));
            assertTrue(sq.getMessage().startsWith("squeeze: dimension 1") && sq.getMessage().contains("size 3"), sq.getMessage());
            assertThrows(ShapeException.class, () -> t.squeeze(2));
            ShapeException un = assertThrows(ShapeException.class, () -> t.unsqueeze(3));
            assertTrue(un.getMessage().startsWith("unsqueeze: dimension 3") && un.getMessage().contains("[2, 3]"), un.getMessage());
            assertThrows(ShapeException.class, () -> t.unsqueeze(-4));
            Tensor rank8 = Tensor.zeros(1, 1, 1, 1, 1, 1, 1, 1);
            assertThrows(ShapeException.class, () -> rank8.unsqueeze(0));

            Tensor closed = Tensor.zeros(2, 2);
            closed.close();
            for (Runnable r : new Runnable[] {() -> closed.slice(0, 0, 1, 1), () -> closed.select(0, 0),
                () -> closed.squeeze(0), () -> closed.unsqueeze(0)}) {
                ClosedTensorException e = assertThrows(ClosedTensorException.class, r::run);
                assertTrue(e.getMessage().contains("closed"), e.getMessage());
            }
            assertThrows(NullPointerException.class, () -> Shapes.slice(null, 0, 0, 1, 1));
        }
    }
}
