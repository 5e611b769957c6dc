package dev.soma.ops;

import dev.soma.autograd.Gradcheck;
import dev.soma.errors.ClosedTensorException;
import dev.soma.errors.DTypeException;
import dev.soma.errors.ShapeException;
import dev.soma.memory.Scope;
import dev.soma.tensor.DType;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import static org.junit.jupiter.api.Assertions.*;

/** concat and stack against plain Java index arithmetic, gradients in float64, and their validation. */
@ExtendWith(NoLeaks.class)
class ShapesJoinTest {
    private static float[] ramp(int n, float base) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = base + i;
        return v;
    }

    private static double[] values(int n, double phase) {
        double[] d = new double[n];
        for (int i = 0; i < n; i++) d[i] = Math.cos(0.3 * i + phase);
        return d;
    }

    @Test
    void concatAlongEachDimensionMatchesAPlainLoop() {
        try (Scope s = Scope.open()) {
            float[] av = ramp(2 * 3 * 4, 0);
            Tensor a = Tensor.of(av, 2, 3, 4);
            for (int dim = 0; dim < 3; dim++) {
                long[] bs = {2, 3, 4};
                bs[dim] = 2;
                float[] bv = ramp((int) (bs[0] * bs[1] * bs[2]), 100);
                Tensor b = Tensor.of(bv, bs);
                Tensor out = Shapes.concat(dim - 3, a, b);
                long[] os = {2, 3, 4};
                os[dim] += 2;
                assertArrayEquals(os, out.shape());
                float[] got = out.toFloatArray();
                int n = 0;
                for (int i = 0; i < os[0]; i++)
                    for (int j = 0; j < os[1]; j++)
                        for (int k = 0; k < os[2]; k++) {
                            int[] idx = {i, j, k};
                            float expected;
                            if (idx[dim] < 3 + (dim == 0 ? -1 : dim == 2 ? 1 : 0)) {
                                expected = av[i * 12 + j * 4 + k];
                            } else {
                                idx[dim] -= (dim == 0 ? 2 : dim == 1 ? 3 : 4);
                                expected = bv[(int) (idx[0] * bs[1] * bs[2] + idx[1] * bs[2] + idx[2])];
                            }
                            assertEquals(expected, got[n++], "concat dim " + dim + " at " + i + "," + j + "," + k);
                        }
            }
            // Strided inputs, an empty piece, and a single tensor.
            Tensor t = a.transpose(0, 2);                       // [4, 3, 2], not contiguous
            Tensor empty = Tensor.zeros(4, 0, 2);
            Tensor c = Shapes.concat(1, t, empty, t);
            assertArrayEquals(new long[] {4, 6, 2}, c.shape());
            float[] tv = t.contiguous().toFloatArray();
            float[] cv = c.toFloatArray();
            for (int i = 0; i < 4; i++)
                for (int j = 0; j < 6; j++)
                    for (int k = 0; k < 2; k++) assertEquals(tv[i * 6 + (j % 3) * 2 + k], cv[i * 12 + j * 2 + k]);
            assertArrayEquals(av, Shapes.concat(0, a).toFloatArray());
        }
    }

    @Test
    void stackInsertsANewDimension() {
        try (Scope s = Scope.open()) {
            float[] av = ramp(6, 0);
            float[] bv = ramp(6, 50);
            float[] cv = ramp(6, 90);
            Tensor a = Tensor.of(av, 2, 3), b = Tensor.of(bv, 2, 3), c = Tensor.of(cv, 2, 3);
            float[][] src = {av, bv, cv};
            for (int dim = -3; dim <= 2; dim++) {
                Tensor out = Shapes.stack(dim, a, b, c);
                int pos = dim < 0 ? dim + 3 : dim;
                long[] expected = pos == 0 ? new long[] {3, 2, 3} : pos == 1 ? new long[] {2, 3, 3} : new long[] {2, 3, 3};
                assertArrayEquals(expected, out.shape(), "stack dim " + dim);
                float[] got = out.toFloatArray();
                int n = 0;
                for (int x = 0; x < expected[0]; x++)
                    for (int y = 0; y < expected[1]; y++)
                        for (int z = 0; z < expected[2]; z++) {
                            int[] idx = {x, y, z};
                            int which = idx[pos];
                            int[] rest = new int[2];
                            for (int q = 0, r = 0; q < 3; q++) if (q != pos) rest[r++] = idx[q];
                            assertEquals(src[which][rest[0] * 3 + rest[1]], got[n++], "stack dim " + dim);
                        }
            }
            Tensor scalars = Shapes.stack(0, Tensor.scalar(1), Tensor.scalar(2));
            assertArrayEquals(new float[] {1, 2}, scalars.toFloatArray());
        }
    }

    @Test
    void gradientsInFloat64() {
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.of(values(24, 0), 2, 3, 4);
            Tensor y = Tensor.of(values(16, 1), 2, 2, 4);
            Tensor z = Tensor.of(values(8, 2), 2, 1, 4);
            Gradcheck.assertGradients("concat", xs -> Shapes.concat(1, xs[0], xs[1], xs[2]), x, y, z);
            Gradcheck.assertGradients("concat of views", xs -> Shapes.concat(0, xs[0].transpose(0, 1), xs[1].slice(1, 0, 3, 1)), x, y);
            Tensor w = Tensor.of(values(24, 3), 2, 3, 4);
            Gradcheck.assertGradients("stack", xs -> Shapes.stack(1, xs[0], xs[1]), x, w);
            Gradcheck.assertGradients("stack last", xs -> Shapes.stack(-1, xs[0], xs[1]), x, w);
            Gradcheck.assertGradients("stack then slice", xs -> Shapes.stack(0, xs[0], xs[1]).slice(3, 1, 4, 2), x, w);
        }
    }

    @Test
    void badInputsNameTheOpAndEveryShape() {
        try (Scope s = Scope.open()) {
            Tensor a = Tensor.zeros(2, 3);
            Tensor b = Tensor.zeros(2, 4);
            Tensor c = Tensor.zeros(2, 3, 1);
            ShapeException e = assertThrows(ShapeException.class, () -> Shapes.concat(0, a, b));
            assertTrue(e.getMessage().startsWith("concat: sizes differ in dimension 1")
                    && e.getMessage().contains("[2, 3]") && e.getMessage().contains("[2, 4]"), e.getMessage());
            assertEquals(7, Shapes.concat(1, a, b).size(1));
            ShapeException r = assertThrows(ShapeException.class, () -> Shapes.concat(0, a, c));
            assertTrue(r.getMessage().startsWith("concat: ranks differ") && r.getMessage().contains("[2, 3, 1]"), r.getMessage());
            assertThrows(ShapeException.class, () -> Shapes.concat(2, a, a));
            assertThrows(ShapeException.class, () -> Shapes.concat(0));
            assertThrows(ShapeException.class, () -> Shapes.concat(0, Tensor.scalar(1), Tensor.scalar(2)));
            DTypeException d = assertThrows(DTypeException.class, () -> Shapes.concat(0, a, a.to(DType.F64)));
            assertTrue(d.getMessage().startsWith("concat:") && d.getMessage().contains("float64"), d.getMessage());

            ShapeException st = assertThrows(ShapeException.class, () -> Shapes.stack(0, a, b));
            assertTrue(st.getMessage().startsWith("stack: shapes differ") && st.getMessage().contains("[2, 4]"), st.getMessage());
            assertThrows(ShapeException.class, () -> Shapes.stack(3, a, a));
            assertThrows(ShapeException.class, () -> Shapes.stack(-4, a, a));
            assertThrows(ShapeException.class, () -> Shapes.stack(0));
            assertThrows(DTypeException.class, () -> Shapes.stack(0, a, a.to(DType.I32)));
            Tensor rank8 = Tensor.zeros(1, 1, 1, 1, 1, 1, 1, 1);
            assertThrows(ShapeException.class, () -> Shapes.stack(0, rank8, rank8));

            Tensor closed = Tensor.zeros(2, 3);
            closed.close();
            assertThrows(ClosedTensorException.class, () -> Shapes.concat(0, a, closed));
            assertThrows(ClosedTensorException.class, () -> Shapes.stack(0, closed, a));
            assertThrows(NullPointerException.class, () -> Shapes.concat(0, a, null));
        }
    }
}
