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

/**
 * Sums and means over one block of axes with kept axes after it (leading axes: bias gradients; a middle axis: a
 * mean over time) take the column kernels instead of a transpose; forward and backward must equal plain loops.
 */
@ExtendWith(NoLeaks.class)
class ReduceBlockTest {
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

    /** sum (or mean) over axes [from, to) of a row-major tensor of {@code shape}, in float64. */
    private static double[] blockSums(float[] v, int[] shape, int from, int to, boolean mean) {
        long batches = 1, reduced = 1, inner = 1;
        for (int i = 0; i < shape.length; i++) {
            if (i < from) batches *= shape[i];
            else if (i < to) reduced *= shape[i];
            else inner *= shape[i];
        }
        double[] ref = new double[(int) (batches * inner)];
        for (int n = 0; n < batches; n++) {
            for (int r = 0; r < reduced; r++) {
                for (int c = 0; c < inner; c++) ref[(int) (n * inner + c)] += v[(int) ((n * reduced + r) * inner + c)];
            }
        }
        if (mean) for (int i = 0; i < ref.length; i++) ref[i] /= reduced;
        return ref;
    }

    private static int[] range(int from, int to) {
        int[] axes = new int[to - from];
        for (int i = from; i < to; i++) axes[i - from] = i;
        return axes;
    }

    @Test
    void middleSumsAndMeansMatchPlainLoops() {
        SplittableRandom r = new SplittableRandom(12);
        // {shape..., first reduced axis, end of the block}: a mean over time, two middle axes, more rows than one
        // 256-row block, more columns than one 1024 chunk, a reduced axis of 1, a kept trailing axis of 1.
        int[][] cases = {{128, 100, 64, 1, 2}, {2, 3, 4, 5, 1, 3}, {3, 600, 7, 1, 2}, {2, 3, 1100, 1, 2},
                {4, 1, 6, 1, 2}, {6, 5, 1, 1, 2}, {2, 3, 4, 5, 2, 3}};
        try (Scope s = Scope.open()) {
            for (int[] c : cases) {
                int[] shape = java.util.Arrays.copyOf(c, c.length - 2);
                int from = c[c.length - 2], to = c[c.length - 1];
                int n = 1;
                for (int d : shape) n *= d;
                float[] v = new float[n];
                for (int i = 0; i < n; i++) v[i] = (float) r.nextGaussian();
                Tensor t = Tensor.of(v, java.util.Arrays.stream(shape).asLongStream().toArray());
                String what = java.util.Arrays.toString(shape) + " over axes [" + from + ", " + to + ")";
                Tensor sum = t.sum(range(from, to), false);
                assertEquals(shape.length - (to - from), sum.ndim(), what);
                Reference.assertClose(Reference.toDouble(sum.toFloatArray()), blockSums(v, shape, from, to, false),
                        Reference.REDUCTION_F32);
                Tensor mean = Reductions.mean(t, range(from, to), true);
                assertEquals(1, mean.size(from), what);
                Reference.assertClose(Reference.toDouble(mean.toFloatArray()), blockSums(v, shape, from, to, true),
                        Reference.REDUCTION_F32);
            }
        }
    }

    @Test
    void middleReductionGradientsBroadcastTheOutputGradient() {
        try (Scope s = Scope.open()) {
            float[] v = new float[3 * 7 * 5];
            for (int i = 0; i < v.length; i++) v[i] = (float) Math.sin(i);
            float[] gv = new float[3 * 5];
            for (int i = 0; i < gv.length; i++) gv[i] = (float) Math.cos(3 * i) * 3;
            for (boolean mean : new boolean[] {false, true}) {
                Tensor x = Tensor.of(v, 3, 7, 5).setRequiresGrad(true);
                Tensor y = mean ? Reductions.mean(x, new int[] {1}, false) : x.sum(new int[] {1}, false);
                y.backward(Tensor.of(gv, 3, 5));
                float[] grad = x.grad().toFloatArray();
                for (int b = 0; b < 3; b++) {
                    for (int t = 0; t < 7; t++) {
                        for (int c = 0; c < 5; c++) {
                            float expected = mean ? (float) ((double) gv[b * 5 + c] / 7) : gv[b * 5 + c];
                            assertEquals(expected, grad[(b * 7 + t) * 5 + c], 0f, (mean ? "mean" : "sum") + " at " + b + "," + t + "," + c);
                        }
                    }
                }
            }
            double[] d = new double[2 * 3 * 4 * 5];
            for (int i = 0; i < d.length; i++) d[i] = Math.cos(i);
            Tensor x = Tensor.of(d, 2, 3, 4, 5);
            Gradcheck.assertGradients("sum middle", xs -> xs[0].sum(new int[] {1, 2}, false), x);
            Gradcheck.assertGradients("mean middle", xs -> Reductions.mean(xs[0], new int[] {1}, true), x);
            Gradcheck.assertGradients("mean of a view", xs -> Reductions.mean(xs[0].transpose(0, 3), new int[] {1}, false), x);
            Gradcheck.assertGradients("max middle", xs -> Reductions.max(xs[0], new int[] {2}, false), x);
        }
    }
}
