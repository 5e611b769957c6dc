package dev.soma.custom;

import dev.soma.autograd.Gradcheck;
import dev.soma.custom.examples.RowTopK;
import dev.soma.errors.DTypeException;
import dev.soma.errors.ShapeException;
import dev.soma.memory.Scope;
import dev.soma.tensor.DType;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.Arrays;
import java.util.Comparator;
import java.util.SplittableRandom;
import java.util.stream.IntStream;

import static dev.soma.custom.CustomOpTest.assertMessage;
import static org.junit.jupiter.api.Assertions.*;

@ExtendWith(NoLeaks.class)
class RowTopKTest {
    /** Plain Java: sort each row's indices (NaN first, larger first, smaller index first) and take k. */
    static int[] referenceIndices(double[] x, int rows, int cols, int k) {
        int[] out = new int[rows * k];
        for (int r = 0; r < rows; r++) {
            final int base = r * cols;
            Integer[] idx = IntStream.range(0, cols).boxed().toArray(Integer[]::new);
            Arrays.sort(idx, Comparator.<Integer>comparingInt(c -> Double.isNaN(x[base + c]) ? 0 : 1)
                    .thenComparing(c -> -x[base + c]).thenComparingInt(c -> c));
            for (int j = 0; j < k; j++) out[r * k + j] = idx[j];
        }
        return out;
    }

    @Test
    void forwardMatchesASortWithTiesAndNaN() {
        SplittableRandom r = new SplittableRandom(11);
        int rows = 2 * 3, cols = 17, k = 5;
        float[] v = new float[rows * cols];
        for (int i = 0; i < v.length; i++) v[i] = r.nextInt(-4, 5); // many ties
        v[3] = Float.NaN;
        v[cols + 7] = Float.NaN;
        v[cols + 9] = Float.NaN;
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.of(v, 2, 3, cols);
            Tensor[] out = RowTopK.topk(x, k);
            assertArrayEquals(new long[] {2, 3, k}, out[0].shape());
            assertArrayEquals(new long[] {2, 3, k}, out[1].shape());
            assertEquals(DType.F32, out[0].dtype());
            assertEquals(DType.I32, out[1].dtype());
            double[] xd = x.toDoubleArray();
            int[] ref = referenceIndices(xd, rows, cols, k);
            int[] got = out[1].toIntArray();
            assertArrayEquals(ref, got);
            float[] vals = out[0].toFloatArray();
            for (int i = 0; i < ref.length; i++) {
                assertEquals(Float.floatToIntBits(v[(i / k) * cols + ref[i]]), Float.floatToIntBits(vals[i]), "value " + i);
            }
            assertTrue(Float.isNaN(vals[0]));
        }
    }

    @Test
    void kEqualToTheRowLengthSortsTheRow() {
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.of(new float[] {3, 1, 2}, 1, 3);
            Tensor[] out = RowTopK.topk(x, 3);
            assertArrayEquals(new float[] {3, 2, 1}, out[0].toFloatArray());
            assertArrayEquals(new int[] {0, 2, 1}, out[1].toIntArray());
        }
    }

    @Test
    void gradientScattersIntoTheTopKPositions() {
        SplittableRandom r = new SplittableRandom(13);
        double[] v = new double[4 * 9];
        for (int i = 0; i < v.length; i++) v[i] = r.nextGaussian(); // distinct: finite differences keep the order
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.of(v, 4, 9);
            Gradcheck.assertGradients(RowTopK.of(3), x);
            Gradcheck.assertGradients("topk then mul", xs -> RowTopK.topk(xs[0], 2)[0].mul(xs[0].slice(1, 0, 2, 1)), x);
            // the gradient itself: ones at the picks, zero elsewhere
            Tensor xr = Tensor.of(v, 4, 9).setRequiresGrad(true);
            Tensor[] out = RowTopK.topk(xr, 3);
            out[0].sum().backward();
            double[] g = xr.grad().toDoubleArray();
            int[] picks = out[1].toIntArray();
            double[] expected = new double[v.length];
            for (int i = 0; i < picks.length; i++) expected[(i / 3) * 9 + picks[i]] = 1;
            assertArrayEquals(expected, g);
        }
    }

    @Test
    void badInputs() {
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.of(new float[] {1, 2, 3, 4}, 2, 2);
            assertMessage(assertThrows(ShapeException.class, () -> RowTopK.topk(x, 3)), "topk", "k = 3", "[2, 2]");
            assertThrows(IllegalArgumentException.class, () -> RowTopK.of(0));
            assertMessage(assertThrows(DTypeException.class, () -> RowTopK.topk(Tensor.ofInts(new int[] {1, 2}, 2), 1)),
                    "topk", "int32");
            assertMessage(assertThrows(ShapeException.class, () -> RowTopK.topk(Tensor.scalar(1), 1)), "topk", "rank 0");
            Tensor g = Tensor.of(new float[] {1, 1}, 1, 2);
            Tensor bad = Tensor.ofInts(new int[] {0, 7}, 1, 2);
            assertMessage(assertThrows(IllegalArgumentException.class, () -> RowTopK.scatter(4).apply(g, bad)),
                    "topk_scatter", "index 7");
            assertMessage(assertThrows(DTypeException.class, () -> RowTopK.scatter(4).apply(g, g)), "topk_scatter", "int32");
        }
    }
}
