package dev.soma.ops;

import dev.soma.errors.DTypeException;
import dev.soma.errors.ShapeException;
import dev.soma.errors.SomaException;
import dev.soma.jni.CpuKernels;
import dev.soma.jni.NativeLibraries;
import dev.soma.memory.Scope;
import dev.soma.tensor.DType;
import dev.soma.tensor.Device;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import static org.junit.jupiter.api.Assertions.*;

@ExtendWith(NoLeaks.class)
class RandomTest {
    /**
     * Random123 tests/kat_vectors (github.com/DEShawResearch/random123), the three "philox4x32 10" lines:
     * counter (4 words), key (2 words), expected output (4 words).
     */
    private static final int[][] KAT = {
        {0x00000000, 0x00000000, 0x00000000, 0x00000000, 0x00000000, 0x00000000,
            0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8},
        {0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff,
            0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd},
        {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0,
            0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1},
    };

    /** A plain Java Philox4x32-10, written from the paper, as the reference for the stream layout. */
    static int[] philox(int[] ctr, int[] key) {
        long c0 = ctr[0] & 0xffffffffL, c1 = ctr[1] & 0xffffffffL, c2 = ctr[2] & 0xffffffffL, c3 = ctr[3] & 0xffffffffL;
        long k0 = key[0] & 0xffffffffL, k1 = key[1] & 0xffffffffL;
        for (int r = 0; r < 10; r++) {
            if (r > 0) {
                k0 = (k0 + 0x9E3779B9L) & 0xffffffffL;
                k1 = (k1 + 0xBB67AE85L) & 0xffffffffL;
            }
            long p0 = 0xD2511F53L * c0;
            long p1 = 0xCD9E8D57L * c2;
            long n0 = ((p1 >>> 32) ^ c1 ^ k0) & 0xffffffffL;
            long n1 = p1 & 0xffffffffL;
            long n2 = ((p0 >>> 32) ^ c3 ^ k1) & 0xffffffffL;
            long n3 = p0 & 0xffffffffL;
            c0 = n0;
            c1 = n1;
            c2 = n2;
            c3 = n3;
        }
        return new int[] {(int) c0, (int) c1, (int) c2, (int) c3};
    }

    private static int[] block(long b, long seed) {
        return philox(new int[] {(int) b, (int) (b >>> 32), 0, 0}, new int[] {(int) seed, (int) (seed >>> 32)});
    }

    /** The f32 uniform stream as documented in random.cpp: one 24-bit word per element. */
    private static float uniformF32(long seed, long i) {
        int w = block(i / 4, seed)[(int) (i % 4)];
        return (float) (w >>> 8) * 0x1.0p-24f;
    }

    private static double uniformF64(long seed, long i) {
        int[] w = block(i / 2, seed);
        int j = (int) (i % 2);
        long v = ((w[2 * j + 1] & 0xffffffffL) << 32) | (w[2 * j] & 0xffffffffL);
        return (v >>> 11) * 0x1.0p-53;
    }

    private static double normalRef(double u1, double u2, boolean second) {
        double r = Math.sqrt(-2 * Math.log(1 - u1));
        return r * (second ? Math.sin(2 * Math.PI * u2) : Math.cos(2 * Math.PI * u2));
    }

    @Test
    void philoxMatchesTheRandom123KnownAnswers() {
        NativeLibraries.cpu();
        for (int[] v : KAT) {
            int[] ctr = {v[0], v[1], v[2], v[3]};
            int[] key = {v[4], v[5]};
            int[] expected = {v[6], v[7], v[8], v[9]};
            int[] out = new int[4];
            CpuKernels.soma_cpu_philox4x32_10(ctr, key, out);
            assertArrayEquals(expected, out, "native philox4x32-10");
            assertArrayEquals(expected, philox(ctr, key), "Java reference philox4x32-10");
        }
    }

    @Test
    void streamsFollowTheDocumentedLayoutOnEveryThreadSplit() {
        long seed = 0x1234_5678_9abcL;
        int n = 100_003; // above the parallel grain, odd: exercises the tail block
        try (Scope s = Scope.open()) {
            float[] u = Tensor.rand(seed, n).toFloatArray();
            for (int i = 0; i < n; i++) assertEquals(uniformF32(seed, i), u[i], "rand f32 element " + i);
            double[] d = Creation.rand(seed, DType.F64, Device.cpu(), n).toDoubleArray();
            for (int i = 0; i < n; i++) assertEquals(uniformF64(seed, i), d[i], "rand f64 element " + i);
            float[] z = Tensor.randn(seed, n).toFloatArray();
            for (int i = 0; i < n; i++) {
                long pair = i & ~1L;
                double ref = normalRef(uniformF32(seed, pair), uniformF32(seed, pair + 1), (i & 1) == 1);
                assertEquals(ref, z[i], 2e-5 * Math.max(1, Math.abs(ref)), "randn f32 element " + i);
            }
            double[] z64 = Creation.randn(seed, DType.F64, Device.cpu(), n).toDoubleArray();
            for (int i = 0; i < n; i++) {
                long pair = i & ~1L;
                double ref = normalRef(uniformF64(seed, pair), uniformF64(seed, pair + 1), (i & 1) == 1);
                assertEquals(ref, z64[i], 1e-12 * Math.max(1, Math.abs(ref)), "randn f64 element " + i);
            }
            // Element i depends on i only: a short tensor is a prefix of a long one, whatever the shape.
            float[] head = Tensor.randn(seed, 3, 5).toFloatArray();
            for (int i = 0; i < 15; i++) assertEquals(z[i], head[i]);
        }
    }

    @Test
    void sameSeedRepeatsAndDifferentSeedsDiffer() {
        try (Scope s = Scope.open()) {
            assertArrayEquals(Tensor.rand(42, 4, 5).toFloatArray(), Tensor.rand(42, 4, 5).toFloatArray());
            assertArrayEquals(Tensor.randn(42, 7).toFloatArray(), Tensor.randn(42, 7).toFloatArray());
            float[] a = Tensor.rand(42, 1000).toFloatArray();
            float[] b = Tensor.rand(43, 1000).toFloatArray();
            float[] c = Tensor.rand(42L + (1L << 32), 1000).toFloatArray(); // high seed word counts too
            int sameB = 0, sameC = 0;
            for (int i = 0; i < a.length; i++) {
                if (a[i] == b[i]) sameB++;
                if (a[i] == c[i]) sameC++;
            }
            assertTrue(sameB < 5 && sameC < 5, "seeds 42/43/2^32+42 share " + sameB + "/" + sameC + " of 1000 values");
        }
    }

    @Test
    void uniformAndNormalHaveTheRightMoments() {
        int n = 1_000_000;
        try (Scope s = Scope.open()) {
            for (DType dt : new DType[] {DType.F32, DType.F64}) {
                double[] u = Creation.rand(7, dt, Device.cpu(), n).toDoubleArray();
                double[] m = moments(u);
                for (double x : u) assertTrue(x >= 0 && x < 1, "uniform value " + x + " outside [0, 1)");
                // 5 standard errors: sd(mean) = sqrt(1/12/n), sd(var) = sqrt((1/80 - 1/144)/n).
                assertEquals(0.5, m[0], 5 * Math.sqrt(1.0 / 12 / n), dt + " uniform mean");
                assertEquals(1.0 / 12, m[1], 5 * Math.sqrt((1.0 / 80 - 1.0 / 144) / n), dt + " uniform variance");

                double[] z = Creation.randn(8, dt, Device.cpu(), n).toDoubleArray();
                double[] mz = moments(z);
                assertEquals(0, mz[0], 5 / Math.sqrt(n), dt + " normal mean");
                assertEquals(1, mz[1], 5 * Math.sqrt(2.0 / n), dt + " normal variance");
                int inside = 0;
                for (double x : z) if (Math.abs(x) < 1) inside++;
                double p = 0.6826894921370859;
                assertEquals(p, inside / (double) n, 5 * Math.sqrt(p * (1 - p) / n), dt + " P(|z| < 1)");

                double[] g = Creation.normal(9, 3, 0.5, dt, Device.cpu(), n).toDoubleArray();
                double[] mg = moments(g);
                assertEquals(3, mg[0], 5 * 0.5 / Math.sqrt(n), dt + " normal(3, 0.5) mean");
                assertEquals(0.25, mg[1], 5 * 0.25 * Math.sqrt(2.0 / n), dt + " normal(3, 0.5) variance");

                double[] v = Creation.uniform(10, -2, 6, dt, Device.cpu(), n).toDoubleArray();
                double[] mv = moments(v);
                for (double x : v) assertTrue(x >= -2 && x <= 6, "uniform(-2, 6) value " + x);
                assertEquals(2, mv[0], 5 * 8 * Math.sqrt(1.0 / 12 / n), dt + " uniform(-2, 6) mean");
                assertEquals(64.0 / 12, mv[1], 5 * 64 * Math.sqrt((1.0 / 80 - 1.0 / 144) / n), dt + " uniform(-2, 6) var");
            }
        }
    }

    private static double[] moments(double[] x) {
        double mean = 0;
        for (double v : x) mean += v;
        mean /= x.length;
        double var = 0;
        for (double v : x) var += (v - mean) * (v - mean);
        return new double[] {mean, var / x.length};
    }

    @Test
    void badArgumentsAreRejectedBeforeAnyNativeCall() {
        try (Scope s = Scope.open()) {
            DTypeException d = assertThrows(DTypeException.class, () -> Creation.rand(1, DType.I32, Device.cpu(), 3));
            assertTrue(d.getMessage().startsWith("uniform:") && d.getMessage().contains("int32"), d.getMessage());
            assertThrows(DTypeException.class, () -> Creation.randn(1, DType.I32, Device.cpu(), 3));
            ShapeException e = assertThrows(ShapeException.class, () -> Tensor.rand(1, 2, -3));
            assertTrue(e.getMessage().startsWith("uniform:") && e.getMessage().contains("[2, -3]"), e.getMessage());
            assertThrows(ShapeException.class, () -> Tensor.randn(1, Long.MAX_VALUE, 4));
            assertThrows(ShapeException.class, () -> Tensor.randn(1, 1, 1, 1, 1, 1, 1, 1, 1, 1));
            SomaException n = assertThrows(SomaException.class, () -> Creation.normal(1, 0, -1, 3));
            assertTrue(n.getMessage().startsWith("normal:") && n.getMessage().contains("-1"), n.getMessage());
            assertThrows(SomaException.class, () -> Creation.normal(1, Double.NaN, 1, 3));
            SomaException u = assertThrows(SomaException.class, () -> Creation.uniform(1, 2, 1, 3));
            assertTrue(u.getMessage().startsWith("uniform:"), u.getMessage());
            assertThrows(SomaException.class, () -> Creation.uniform(1, 0, Double.POSITIVE_INFINITY, 3));
            assertThrows(SomaException.class, () -> Creation.uniform(1, -Double.MAX_VALUE, Double.MAX_VALUE, 3));
            // Empty and zero-dimensional tensors are fine.
            assertEquals(0, Tensor.rand(1, 0, 5).numel());
            assertEquals(0, Tensor.randn(1).ndim());
        }
    }
}
