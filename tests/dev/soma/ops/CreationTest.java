package dev.soma.ops;

import dev.soma.errors.DTypeException;
import dev.soma.errors.ShapeException;
import dev.soma.errors.SomaException;
import dev.soma.memory.Scope;
import dev.soma.tensor.DType;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import static org.junit.jupiter.api.Assertions.*;

@ExtendWith(NoLeaks.class)
class CreationTest {
    private static double[] ref(double start, double end, double step) {
        int n = (int) Math.max(0, Math.ceil((end - start) / step));
        double[] out = new double[n];
        for (int i = 0; i < n; i++) out[i] = start + i * step;
        return out;
    }

    @Test
    void arangeMatchesNumpysCountAndValues() {
        try (Scope s = Scope.open()) {
            double[][] cases = {{0, 5, 1}, {0, 1, 0.1}, {-3, 3, 0.7}, {5, 0, -1}, {2, 2, 1}, {3, 0, 1}, {0.5, 10.25, 2.5}};
            for (double[] c : cases) {
                double[] expected = ref(c[0], c[1], c[2]);
                Tensor f = Tensor.arange(c[0], c[1], c[2]);
                assertEquals(DType.F32, f.dtype());
                assertArrayEquals(new long[] {expected.length}, f.shape());
                float[] got = f.toFloatArray();
                for (int i = 0; i < expected.length; i++) assertEquals((float) expected[i], got[i]);
                assertArrayEquals(expected, Tensor.arange(c[0], c[1], c[2], DType.F64).toDoubleArray());
            }
            assertEquals(10, Tensor.arange(0, 1, 0.1).numel());
            assertArrayEquals(new int[] {7, 4, 1, -2}, Tensor.arange(7, -3, -3, DType.I32).toIntArray());
        }
    }

    @Test
    void arangeRejectsBadArguments() {
        try (Scope s = Scope.open()) {
            ShapeException z = assertThrows(ShapeException.class, () -> Tensor.arange(0, 5, 0));
            assertTrue(z.getMessage().startsWith("arange:") && z.getMessage().contains("step"), z.getMessage());
            assertThrows(SomaException.class, () -> Tensor.arange(0, Double.POSITIVE_INFINITY, 1));
            assertThrows(SomaException.class, () -> Tensor.arange(Double.NaN, 1, 1));
            ShapeException big = assertThrows(ShapeException.class, () -> Tensor.arange(0, 1e12, 1));
            assertTrue(big.getMessage().startsWith("arange:"), big.getMessage());
            DTypeException d = assertThrows(DTypeException.class, () -> Tensor.arange(0, 2, 0.5, DType.I32));
            assertTrue(d.getMessage().contains("int32"), d.getMessage());
            assertThrows(DTypeException.class, () -> Tensor.arange(0, 4e9, 1e9, DType.I32));
        }
    }
}
