package dev.soma.ops;

import dev.soma.memory.Scope;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.function.DoubleUnaryOperator;
import java.util.function.UnaryOperator;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The f32 tanh and sigmoid run eight lanes at a time with their own approximations (native/src/simd_math.h), so
 * they are held to a per-element bound, not just the norm-wise one: every value of a log-spaced grid from 1e-30 to
 * 100 of both signs against float64, at every tail length, plus the special values.
 */
@ExtendWith(NoLeaks.class)
class VectorActivationsTest {
    private static float[] grid() {
        int perDecade = 97;
        float[] v = new float[2 * 33 * perDecade + 1];
        int k = 0;
        v[k++] = 0f;
        for (int d = -30; d <= 2; d++) {
            for (int j = 0; j < perDecade; j++) {
                float x = (float) Math.pow(10, d + j / (double) perDecade);
                v[k++] = x;
                v[k++] = -x;
            }
        }
        return java.util.Arrays.copyOf(v, k);
    }

    private static void check(String name, UnaryOperator<Tensor> op, DoubleUnaryOperator ref, double relBound,
                              double absFloor) {
        float[] x = grid();
        try (Scope s = Scope.open()) {
            float[] out = op.apply(Tensor.of(x, x.length)).toFloatArray();
            for (int i = 0; i < x.length; i++) {
                double want = ref.applyAsDouble(x[i]);
                double err = Math.abs(out[i] - want);
                assertTrue(err <= relBound * Math.abs(want) || err <= absFloor,
                        name + "(" + x[i] + ") = " + out[i] + ", float64 says " + want);
            }
            // every tail length: the same value wherever it sits
            for (int n = 1; n <= 17; n++) {
                float[] part = java.util.Arrays.copyOfRange(x, 1000, 1000 + n);
                float[] got = op.apply(Tensor.of(part, n)).toFloatArray();
                for (int i = 0; i < n; i++) assertEquals(out[1000 + i], got[i], 0f, name + " tail " + n + " lane " + i);
            }
        }
    }

    @Test
    void tanhWithinFourUlpEverywhere() {
        check("tanh", Tensor::tanh, Math::tanh, 4.8e-7, 0);
    }

    @Test
    void sigmoidWithinFourUlpAboveMinus80() {
        // below x = -80 sigmoid is under 2e-35: the absolute floor covers exp256's saturation there
        check("sigmoid", Tensor::sigmoid, x -> 1 / (1 + Math.exp(-x)), 4.8e-7, 1e-34);
    }

    @Test
    void specialValues() {
        float[] x = {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, -0f, 10f, -10f, 40f};
        try (Scope s = Scope.open()) {
            float[] t = Tensor.of(x, x.length).tanh().toFloatArray();
            assertTrue(Float.isNaN(t[0]));
            assertArrayEquals(new float[] {1f, -1f, 0f, 1f, -1f, 1f}, java.util.Arrays.copyOfRange(t, 1, 7), 0f);
            float[] g = Tensor.of(x, x.length).sigmoid().toFloatArray();
            assertTrue(Float.isNaN(g[0]));
            assertEquals(1f, g[1], 0f);
            assertEquals(0f, g[2], 1e-35f);
            assertEquals(0.5f, g[3], 0f);
            assertEquals(1f, g[6], 0f);
        }
    }
}
