package dev.soma.badinput;

import dev.soma.autograd.Anomaly;
import dev.soma.errors.AnomalyException;
import dev.soma.memory.Scope;
import dev.soma.ops.Losses;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import static dev.soma.badinput.Expect.thrown;
import static org.junit.jupiter.api.Assertions.*;

/**
 * NaN and Inf inputs have defined behaviour: without anomaly mode they propagate as IEEE 754 says (documented in
 * {@link Anomaly}); with it, the first op whose output holds one throws naming itself and its inputs.
 */
@ExtendWith(NoLeaks.class)
class NonFiniteInputTest {
    private static final float NAN = Float.NaN;
    private static final float INF = Float.POSITIVE_INFINITY;

    @Test
    void arithmeticPropagatesNaNAndInf() {
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.of(new float[] {1, NAN, INF, -INF});
            float[] y = x.add(1).toFloatArray();
            assertEquals(2f, y[0]);
            assertTrue(Float.isNaN(y[1]));
            assertEquals(INF, y[2]);
            assertEquals(-INF, y[3]);
            assertTrue(Float.isNaN(x.sub(x).toFloatArray()[2]), "Inf - Inf is NaN");
            assertEquals(INF, Tensor.ones(1).div(Tensor.zeros(1)).toFloatArray()[0]);
            assertEquals(-INF, Tensor.zeros(1).log().toFloatArray()[0]);
            assertTrue(Float.isNaN(Tensor.full(-1, 1).sqrt().toFloatArray()[0]));
        }
    }

    @Test
    void reductionsMatmulAndLossesPropagateNaN() {
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.of(new float[] {1, 2, NAN, 4}, 2, 2);
            assertTrue(Double.isNaN(x.sum().item()));
            assertTrue(Float.isNaN(x.max(new int[] {1}, false).toFloatArray()[1]), "max propagates NaN");
            assertEquals(0, x.argmax(1, false).toIntArray()[1], "NaN counts as the maximum");
            float[] p = x.matmul(Tensor.ones(2, 1)).toFloatArray();
            assertEquals(3f, p[0]);
            assertTrue(Float.isNaN(p[1]));
            assertTrue(Double.isNaN(Losses.sparseCategoricalCrossEntropy(x, Tensor.ofInts(new int[] {0, 1})).item()));
        }
    }

    @Test
    void softmaxOfLargeFiniteLogitsStaysFinite() {
        try (Scope s = Scope.open()) {
            float[] p = Tensor.of(new float[] {3e38f, 0, -3e38f}).softmax(0).toFloatArray();
            assertArrayEquals(new float[] {1, 0, 0}, p);
        }
    }

    @Test
    void anomalyModeNamesTheOpThatMetANaNInput() {
        try (Anomaly.Guard g = Anomaly.enable(); Scope s = Scope.open()) {
            Tensor x = Tensor.of(new float[] {1, NAN}, 1, 2);
            AnomalyException e = thrown(AnomalyException.class, () -> x.matmul(Tensor.ones(2, 3)), "matmul",
                    "NaN", "float32[1, 2]", "float32[2, 3]", "holds NaN/Inf");
            assertEquals("matmul", e.op());
        }
    }

    @Test
    void anomalyModeNamesTheOpThatMadeAnInf() {
        try (Anomaly.Guard g = Anomaly.enable(); Scope s = Scope.open()) {
            Tensor x = Tensor.of(new float[] {1, 100});
            AnomalyException e = thrown(AnomalyException.class, () -> x.mul(2).exp().log(), "exp", "+Inf",
                    "element 1", "float32[2] on cpu (finite)");
            assertEquals("exp", e.op());
        }
    }
}
