package dev.soma.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Comparison with a plain Java reference, using DESIGN.md's relative error ‖out − ref‖ / ‖ref‖. */
public final class Reference {
    /** Bound for element-wise f32 ops. */
    public static final double ELEMENTWISE_F32 = 1e-5;
    /** Bound for reductions and matrix products in f32. */
    public static final double REDUCTION_F32 = 1e-4;

    private Reference() {}

    public static double relativeError(double[] out, double[] ref) {
        assertEquals(ref.length, out.length, "element count");
        double d = 0;
        double r = 0;
        for (int i = 0; i < ref.length; i++) {
            assertTrue(!Double.isNaN(out[i]) || Double.isNaN(ref[i]), "NaN at element " + i);
            double e = out[i] - ref[i];
            d += e * e;
            r += ref[i] * ref[i];
        }
        return r == 0 ? Math.sqrt(d) : Math.sqrt(d / r);
    }

    public static void assertClose(double[] out, double[] ref, double bound) {
        double err = relativeError(out, ref);
        assertTrue(err <= bound, "relative error " + err + " exceeds " + bound);
    }

    public static double[] toDouble(float[] f) {
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) d[i] = f[i];
        return d;
    }
}
