package dev.soma.ops;

import dev.soma.memory.Scope;
import dev.soma.tensor.DType;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

/**
 * Float -> int32 casts have one defined meaning on every backend, the GPU's: round toward zero, saturate at the
 * int32 range, NaN -> 0 (a plain C++ cast is undefined for NaN and out-of-range values). The CUDA kernel is held
 * to the same values by the emulated-device tests (tests/cuda-native).
 */
@ExtendWith(NoLeaks.class)
class CastToIntTest {
    private static final float[] FLOATS = {
        Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, 3e9f, -3e9f, 2147483520f, -2147483648f,
        2.7f, -2.7f, 0.5f, -0.5f, -0f, 1e-30f, 16777217f
    };
    private static final int[] EXPECTED = {
        0, Integer.MAX_VALUE, Integer.MIN_VALUE, Integer.MAX_VALUE, Integer.MIN_VALUE, 2147483520, Integer.MIN_VALUE,
        2, -2, 0, 0, 0, 0, 16777216
    };

    @Test
    void f32ToI32RoundsTowardZeroSaturatesAndMapsNanToZero() {
        try (Scope s = Scope.open()) {
            // Long enough for the parallel (vectorised) loop as well as the short one.
            int reps = 10_000;
            float[] in = new float[FLOATS.length * reps];
            int[] want = new int[in.length];
            for (int r = 0; r < reps; r++) {
                System.arraycopy(FLOATS, 0, in, r * FLOATS.length, FLOATS.length);
                System.arraycopy(EXPECTED, 0, want, r * FLOATS.length, FLOATS.length);
            }
            assertArrayEquals(EXPECTED, Tensor.of(FLOATS, FLOATS.length).to(DType.I32).toIntArray());
            assertArrayEquals(want, Tensor.of(in, in.length).to(DType.I32).toIntArray());
        }
    }

    @Test
    void f64ToI32RoundsTowardZeroSaturatesAndMapsNanToZero() {
        try (Scope s = Scope.open()) {
            double[] in = {Double.NaN, Double.POSITIVE_INFINITY, Double.NEGATIVE_INFINITY, 2147483647.9, -2147483648.9,
                4e18, -4e18, 2147483646.5, -7.99, 1e-300};
            int[] want = {0, Integer.MAX_VALUE, Integer.MIN_VALUE, Integer.MAX_VALUE, Integer.MIN_VALUE,
                Integer.MAX_VALUE, Integer.MIN_VALUE, 2147483646, -7, 0};
            assertArrayEquals(want, Tensor.of(in, in.length).to(DType.I32).toIntArray());
        }
    }
}
