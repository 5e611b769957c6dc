package dev.soma.ops;

import dev.soma.autograd.Gradcheck;
import dev.soma.memory.Scope;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import dev.soma.testing.Reference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/** Sums and means over leading axes (bias gradients) take the column kernel; they must equal plain loops. */
@ExtendWith(NoLeaks.class)
class ReduceLeadingTest {
    private static double[] columnSums(float[] v, int outer, int inner, boolean mean) {
        double[] ref = new double[inner];
        for (int r = 0; r < outer; r++) for (int c = 0; c < inner; c++) ref[c] += v[r * inner + c];
        if (mean) for (int c = 0; c < inner; c++) ref[c] /= outer;
        return ref;
    }

    @Test
    void leadingSumsAndMeansMatchPlainLoops() {
        SplittableRandom r = new SplittableRandom(11);
        // [rows over several 256-row blocks, columns], a column count over one 1024 chunk, one row, odd sizes.
        int[][] shapes = {{32, 100, 64}, {3, 700, 5}, {2, 3, 1500}, {1, 9}, {777, 3}};
        try (Scope s = Scope.open()) {
            for (int[] sh : shapes) {
                int inner = sh[sh.length - 1];
                int outer = 1;
                for (int i = 0; i < sh.length - 1; i++) outer *= sh[i];
                float[] v = new float[outer * inner];
                for (int i = 0; i < v.length; i++) v[i] = (float) r.nextGaussian();
                long[] shape = new long[sh.length];
                for (int i = 0; i < sh.length; i++) shape[i] = sh[i];
                int[] axes = new int[sh.length - 1];
                for (int i = 0; i < axes.length; i++) axes[i] = i;
                Tensor t = Tensor.of(v, shape);
                Tensor sum = t.sum(axes, false);
                assertArrayEquals(new long[] {inner}, sum.shape());
                Reference.assertClose(Reference.toDouble(sum.toFloatArray()), columnSums(v, outer, inner, false),
                        Reference.REDUCTION_F32);
                Tensor mean = Reductions.mean(t, axes, true);
                assertEquals(1, mean.size(0));
                Reference.assertClose(Reference.toDouble(mean.toFloatArray()), columnSums(v, outer, inner, true),
                        Reference.REDUCTION_F32);
                // A broadcast add's bias gradient goes through sumToShape.
                long[] bias = {inner};
                Reference.assertClose(Reference.toDouble(Reductions.sumToShape(t, bias).toFloatArray()),
                        columnSums(v, outer, inner, false), Reference.REDUCTION_F32);
            }
            // Not leading (axis 1 only) and a strided view still give the right answer through the row path.
            float[] v = new float[4 * 5 * 6];
            for (int i = 0; i < v.length; i++) v[i] = i % 7 - 3;
            Tensor t = Tensor.of(v, 4, 5, 6);
            Tensor tt = t.transpose(0, 2);
            double[] ref = new double[4 * 5];
            for (int a = 0; a < 4; a++) for (int b = 0; b < 5; b++) for (int c = 0; c < 6; c++) ref[b * 4 + a] += v[a * 30 + b * 6 + c];
            Reference.assertClose(Reference.toDouble(tt.sum(new int[] {0}, false).toFloatArray()), ref, Reference.REDUCTION_F32);
        }
    }

    @Test
    void leadingReductionsKeepTheirGradients() {
        try (Scope s = Scope.open()) {
            double[] v = new double[3 * 4 * 5];
            for (int i = 0; i < v.length; i++) v[i] = Math.cos(i);
            Tensor x = Tensor.of(v, 3, 4, 5);
            Gradcheck.assertGradients("sum leading", xs -> xs[0].sum(new int[] {0, 1}, false), x);
            Gradcheck.assertGradients("mean leading", xs -> Reductions.mean(xs[0], new int[] {0}, true), x);
            Gradcheck.assertGradients("bias grad", xs -> Reductions.sumToShape(xs[0], new long[] {5}), x);
        }
    }
}
