package dev.soma.ops;

import dev.soma.memory.Scope;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import dev.soma.testing.Reference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import static org.junit.jupiter.api.Assertions.*;

/** The eight-lane f32 GELU (polynomial erf and exp) against the f64 library path, values and gradients. */
@ExtendWith(NoLeaks.class)
class GeluF32Test {
    @Test
    void vectorGeluMatchesTheDoublePrecisionOne() {
        int n = 20_003;  // not a multiple of 8: the scalar tail runs too
        float[] xf = new float[n];
        double[] xd = new double[n];
        for (int i = 0; i < n; i++) {
            xf[i] = (float) (-12 + 24.0 * i / (n - 1));
            xd[i] = xf[i];
        }
        try (Scope s = Scope.open()) {
            Tensor a = Tensor.of(xf, n).setRequiresGrad(true);
            Tensor b = Tensor.of(xd, n).setRequiresGrad(true);
            Tensor ya = a.gelu();
            Tensor yb = b.gelu();
            ya.sum().backward();
            yb.sum().backward();
            double[] fa = Reference.toDouble(ya.toFloatArray());
            double[] fb = yb.toDoubleArray();
            double[] ga = Reference.toDouble(a.grad().toFloatArray());
            double[] gb = b.grad().toDoubleArray();
            Reference.assertClose(fa, fb, Reference.ELEMENTWISE_F32);
            Reference.assertClose(ga, gb, Reference.ELEMENTWISE_F32);
            for (int i = 0; i < n; i++) {
                assertEquals(fb[i], fa[i], 1e-6 * (1 + Math.abs(xd[i])), "gelu(" + xd[i] + ")");
                assertEquals(gb[i], ga[i], 1e-6 * (1 + Math.abs(xd[i])), "gelu'(" + xd[i] + ")");
            }
            float[] special = {Float.NaN, Float.POSITIVE_INFINITY, -100f, 100f, 0f, -0f, 1e-30f, -1e-30f};
            float[] out = Tensor.of(special, special.length).gelu().toFloatArray();
            assertTrue(Float.isNaN(out[0]), "NaN stays NaN");
            assertEquals(Float.POSITIVE_INFINITY, out[1]);
            assertEquals(0f, out[2], 0f);
            assertEquals(100f, out[3], 0f);
            assertEquals(0f, out[4], 0f);
            assertEquals(0.5e-30f, out[6], 1e-36f);
        }
    }
}
