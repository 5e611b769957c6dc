package dev.soma.ops;

import dev.soma.errors.ShapeException;
import dev.soma.memory.Scope;
import dev.soma.tensor.DType;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.SplittableRandom;
import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Each ghost-norm kernel against the per-example gradients autograd gives when each example runs alone through the
 * ordinary op (float64, random shapes including batch 1), for both ways of forming the norm; bad inputs.
 */
@ExtendWith(NoLeaks.class)
class GhostNormsTest {
    private static Tensor random(SplittableRandom r, long... shape) {
        long n = 1;
        for (long s : shape) n *= s;
        double[] v = new double[(int) n];
        for (int i = 0; i < v.length; i++) v[i] = r.nextDouble(-1, 1);
        return Tensor.of(v, shape);
    }

    /** Squared norm of example i's gradient over params, for the loss sum(z_i * g_i) with z_i = layer(example i). */
    private static double perExample(Tensor[] params, Function<Long, Tensor> outputOfExample, Tensor g, long i) {
        for (Tensor p : params) if (p != null) p.zeroGrad();
        try (Scope s = Scope.open()) {
            Tensor z = outputOfExample.apply(i);
            Tensor gi = g.slice(0, i, i + 1, 1);
            z.mul(gi).sum().backward();
        }
        double sum = 0;
        for (Tensor p : params) {
            if (p == null || p.grad() == null) continue;
            for (double v : p.grad().toDoubleArray()) sum += v * v;
            p.zeroGrad();
        }
        return sum;
    }

    private static void assertNorms(double[] expected, Tensor got, String what) {
        double[] g = got.toDoubleArray();
        assertEquals(expected.length, g.length, what);
        for (int i = 0; i < g.length; i++) {
            assertEquals(expected[i], g[i], 1e-9 * Math.max(1, Math.abs(expected[i])), what + " example " + i);
        }
    }

    @Test
    void linearMatchesPerExampleGradients() {
        SplittableRandom r = new SplittableRandom(1);
        long[][] shapes = {{1, 1, 3, 2}, {4, 1, 5, 3}, {3, 6, 4, 7}, {1, 5, 2, 2}, {5, 2, 3, 8}}; // batch, T, d, p
        for (long[] s : shapes) {
            for (boolean bias : new boolean[] {false, true}) {
                try (Scope sc = Scope.open()) {
                    Tensor a = s[1] == 1 && s[0] % 2 == 0 ? random(r, s[0], s[2]) : random(r, s[0], s[1], s[2]);
                    long[] gShape = a.ndim() == 2 ? new long[] {s[0], s[3]} : new long[] {s[0], s[1], s[3]};
                    Tensor g = random(r, gShape);
                    Tensor w = random(r, s[2], s[3]).setRequiresGrad(true);
                    Tensor b = bias ? random(r, s[3]).setRequiresGrad(true) : null;
                    double[] expected = new double[(int) s[0]];
                    for (long i = 0; i < s[0]; i++) {
                        expected[(int) i] = perExample(new Tensor[] {w, b}, k -> {
                            Tensor z = a.slice(0, k, k + 1, 1).matmul(w);
                            return b == null ? z : z.add(b);
                        }, g, i);
                    }
                    for (GhostNorms.Method m : GhostNorms.Method.values()) {
                        assertNorms(expected, GhostNorms.linear(a, g, bias, m), "linear " + java.util.Arrays.toString(s) + " " + m);
                    }
                    w.zeroGrad();
                    if (b != null) b.zeroGrad();
                }
            }
        }
    }

    @Test
    void conv2dMatchesPerExampleGradients() {
        SplittableRandom r = new SplittableRandom(2);
        // batch, h, w, c, filters, kh, kw, stride, dilation, padding
        Object[][] cases = {
                {1, 5, 5, 1, 2, 3, 3, 1, 1, "same"}, {3, 6, 5, 2, 3, 3, 2, 1, 1, "valid"},
                {2, 7, 7, 3, 4, 3, 3, 2, 1, "same"}, {2, 8, 6, 2, 2, 2, 3, 1, 2, "valid"},
                {4, 4, 4, 1, 5, 1, 1, 1, 1, "valid"}};
        for (Object[] c : cases) {
            int n = (int) c[0], h = (int) c[1], wd = (int) c[2], ch = (int) c[3], f = (int) c[4];
            int kh = (int) c[5], kw = (int) c[6], st = (int) c[7], dil = (int) c[8];
            String pad = (String) c[9];
            int[] strides = {st, st}, dilation = {dil, dil};
            try (Scope sc = Scope.open()) {
                Tensor x = random(r, n, h, wd, ch);
                Tensor k = random(r, kh, kw, ch, f).setRequiresGrad(true);
                Tensor b = random(r, f).setRequiresGrad(true);
                Tensor out = Convolution.conv2d(x, k.detach(), b.detach(), strides, pad, dilation);
                Tensor g = random(r, out.shape());
                for (boolean bias : new boolean[] {false, true}) {
                    double[] expected = new double[n];
                    for (long i = 0; i < n; i++) {
                        expected[(int) i] = perExample(new Tensor[] {k, bias ? b : null},
                                e -> Convolution.conv2d(x.slice(0, e, e + 1, 1), k, bias ? b : null, strides, pad, dilation),
                                g, i);
                    }
                    for (GhostNorms.Method m : GhostNorms.Method.values()) {
                        assertNorms(expected, GhostNorms.conv2d(x, k, g, strides, pad, dilation, bias, m),
                                "conv2d " + java.util.Arrays.toString(c) + " bias " + bias + " " + m);
                    }
                }
                k.zeroGrad();
                b.zeroGrad();
            }
        }
    }

    @Test
    void embeddingSumsRepeatedIds() {
        SplittableRandom r = new SplittableRandom(3);
        long[][] shapes = {{1, 4}, {3, 6}, {2, 1}, {5, 9}}; // batch, positions
        for (long[] s : shapes) {
            try (Scope sc = Scope.open()) {
                int[] idv = new int[(int) (s[0] * s[1])];
                for (int i = 0; i < idv.length; i++) idv[i] = r.nextInt(4); // few ids: many repeats
                Tensor ids = Tensor.ofInts(idv, s[0], s[1]);
                Tensor table = random(r, 4, 3).setRequiresGrad(true);
                Tensor g = random(r, s[0], s[1], 3);
                double[] expected = new double[(int) s[0]];
                for (long i = 0; i < s[0]; i++) {
                    expected[(int) i] = perExample(new Tensor[] {table},
                            e -> Embeddings.embedding(ids.slice(0, e, e + 1, 1), table), g, i);
                }
                assertNorms(expected, GhostNorms.embedding(ids, g), "embedding " + java.util.Arrays.toString(s));
                table.zeroGrad();
            }
        }
    }

    @Test
    void layerNormGammaAndBeta() {
        SplittableRandom r = new SplittableRandom(4);
        long[][] shapes = {{1, 1, 4}, {3, 5, 2}, {2, 3, 6}};
        for (long[] s : shapes) {
            try (Scope sc = Scope.open()) {
                Tensor xhat = random(r, s);
                Tensor gamma = random(r, s[2]).setRequiresGrad(true);
                Tensor beta = random(r, s[2]).setRequiresGrad(true);
                Tensor g = random(r, s);
                double[] expected = new double[(int) s[0]];
                for (long i = 0; i < s[0]; i++) {
                    expected[(int) i] = perExample(new Tensor[] {gamma, beta},
                            e -> xhat.slice(0, e, e + 1, 1).mul(gamma).add(beta), g, i);
                }
                assertNorms(expected, GhostNorms.layerNorm(xhat, g, true, true), "layerNorm " + java.util.Arrays.toString(s));
                gamma.zeroGrad();
                beta.zeroGrad();
            }
        }
    }

    @Test
    void float32AgreesWithFloat64() {
        SplittableRandom r = new SplittableRandom(5);
        try (Scope sc = Scope.open()) {
            Tensor x = random(r, 3, 6, 6, 2);
            Tensor k = random(r, 3, 3, 2, 4);
            Tensor g = random(r, 3, 6, 6, 4);
            double[] d = GhostNorms.conv2d(x, k, g, new int[] {1, 1}, "same", new int[] {1, 1}, true,
                    GhostNorms.Method.AUTO).toDoubleArray();
            float[] f = GhostNorms.conv2d(x.to(DType.F32), k.to(DType.F32), g.to(DType.F32), new int[] {1, 1}, "same",
                    new int[] {1, 1}, true, GhostNorms.Method.AUTO).toFloatArray();
            for (int i = 0; i < d.length; i++) assertEquals(d[i], f[i], 1e-4 * d[i]);
        }
    }

    @Test
    void refusesBadInputsNamingTheOp() {
        try (Scope sc = Scope.open()) {
            Tensor a = Tensor.zeros(DType.F32, dev.soma.tensor.Device.cpu(), 2, 3);
            Tensor g = Tensor.zeros(DType.F32, dev.soma.tensor.Device.cpu(), 3, 4);
            ShapeException e = assertThrows(ShapeException.class, () -> GhostNorms.linear(a, g, true, GhostNorms.Method.AUTO));
            assertTrue(e.getMessage().contains("ghostNorms.linear"), e.getMessage());
            Tensor g64 = Tensor.zeros(DType.F64, dev.soma.tensor.Device.cpu(), 2, 4);
            RuntimeException d = assertThrows(RuntimeException.class, () -> GhostNorms.linear(a, g64, true, GhostNorms.Method.AUTO));
            assertTrue(d.getMessage().contains("ghostNorms.linear"), d.getMessage());
            Tensor x = Tensor.zeros(DType.F32, dev.soma.tensor.Device.cpu(), 2, 5, 5, 1);
            Tensor k = Tensor.zeros(DType.F32, dev.soma.tensor.Device.cpu(), 3, 3, 1, 2);
            Tensor wrong = Tensor.zeros(DType.F32, dev.soma.tensor.Device.cpu(), 2, 5, 5, 2); // valid gives 3x3
            ShapeException c = assertThrows(ShapeException.class, () -> GhostNorms.conv2d(x, k, wrong, new int[] {1, 1},
                    "valid", new int[] {1, 1}, true, GhostNorms.Method.AUTO));
            assertTrue(c.getMessage().contains("ghostNorms.conv2d") && c.getMessage().contains("[2, 3, 3, 2]"), c.getMessage());
            Tensor ids = Tensor.zeros(DType.F32, dev.soma.tensor.Device.cpu(), 2, 3);
            assertThrows(RuntimeException.class, () -> GhostNorms.embedding(ids, Tensor.zeros(DType.F32,
                    dev.soma.tensor.Device.cpu(), 2, 3, 4)));
            Tensor idsOk = Tensor.ofInts(new int[] {0, 1, 2, 0, 1, 2}, 2, 3);
            assertThrows(ShapeException.class, () -> GhostNorms.embedding(idsOk, Tensor.zeros(DType.F32,
                    dev.soma.tensor.Device.cpu(), 2, 4, 4)));
            assertThrows(ShapeException.class, () -> GhostNorms.layerNorm(a, g, true, true));
            Tensor gk = Tensor.zeros(DType.F32, dev.soma.tensor.Device.cpu(), 3, 3, 1, 2);
            ShapeException w = assertThrows(ShapeException.class, () -> GhostNorms.conv2dWeightGradients(x, k, wrong,
                    new int[] {1, 1}, "valid", new int[] {1, 1}, gk, null));
            assertTrue(w.getMessage().contains("ghostNorms.conv2dWeightGradients"), w.getMessage());
        }
    }
}
