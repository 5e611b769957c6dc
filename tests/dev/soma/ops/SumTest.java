package dev.soma.ops;

import dev.soma.autograd.Gradcheck;
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

@ExtendWith(NoLeaks.class)
class SumTest {
    @Test
    void sumOverEachAxisSetMatchesAPlainLoop() {
        SplittableRandom r = new SplittableRandom(7);
        float[] v = new float[3 * 4 * 5];
        for (int i = 0; i < v.length; i++) v[i] = (float) r.nextGaussian();
        try (Scope s = Scope.open()) {
            Tensor t = Tensor.of(v, 3, 4, 5);
            // axis 1, keepDims
            Tensor a = t.sum(new int[] {1}, true);
            assertArrayEquals(new long[] {3, 1, 5}, a.shape());
            double[] ref = new double[15];
            for (int i = 0; i < 3; i++)
                for (int j = 0; j < 4; j++)
                    for (int k = 0; k < 5; k++) ref[i * 5 + k] += v[i * 20 + j * 5 + k];
            Reference.assertClose(Reference.toDouble(a.toFloatArray()), ref, Reference.REDUCTION_F32);
            // axes {0, 2}, dropped
            Tensor b = t.sum(new int[] {0, -1}, false);
            assertArrayEquals(new long[] {4}, b.shape());
            double[] ref2 = new double[4];
            for (int i = 0; i < 3; i++)
                for (int j = 0; j < 4; j++)
                    for (int k = 0; k < 5; k++) ref2[j] += v[i * 20 + j * 5 + k];
            Reference.assertClose(Reference.toDouble(b.toFloatArray()), ref2, Reference.REDUCTION_F32);
            // all
            double all = 0;
            for (float x : v) all += x;
            assertEquals(all, t.sum().item(), 1e-4);
            assertEquals(0, t.sum().ndim());
        }
    }

    @Test
    void sumGradientAndSumToShape() {
        try (Scope s = Scope.open()) {
            double[] v = new double[24];
            for (int i = 0; i < 24; i++) v[i] = Math.sin(i);
            Tensor x = Tensor.of(v, 2, 3, 4);
            Gradcheck.assertGradients("sum axes", xs -> xs[0].sum(new int[] {0, 2}, false), x);
            Gradcheck.assertGradients("sum keep", xs -> xs[0].sum(new int[] {1}, true), x);
            Gradcheck.assertGradients("sum all", xs -> xs[0].sum(), x);
            Gradcheck.assertGradients("sumToShape", xs -> Reductions.sumToShape(xs[0], new long[] {3, 1}), x);
        }
    }

    @Test
    void badAxesAndDtypesAreRejectedWithTheOpName() {
        try (Scope s = Scope.open()) {
            Tensor t = Tensor.zeros(2, 3);
            ShapeException e = assertThrows(ShapeException.class, () -> t.sum(new int[] {2}, false));
            assertTrue(e.getMessage().startsWith("sum: axis 2"), e.getMessage());
            assertThrows(ShapeException.class, () -> t.sum(new int[] {1, -1}, false));
            Tensor ints = Tensor.ofInts(new int[] {1, 2});
            DTypeException d = assertThrows(DTypeException.class, ints::sum);
            assertTrue(d.getMessage().contains("int32"), d.getMessage());
        }
    }
}
