package dev.soma.ops;

import dev.soma.autograd.Gradcheck;
import dev.soma.errors.ClosedTensorException;
import dev.soma.errors.DTypeException;
import dev.soma.errors.ShapeException;
import dev.soma.errors.SomaException;
import dev.soma.memory.Scope;
import dev.soma.tensor.DType;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import dev.soma.testing.Reference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.SplittableRandom;
import java.util.function.BiFunction;

import static org.junit.jupiter.api.Assertions.*;

/** The losses: forward against plain loops (f32 and f64), stability, gradients in f64, bad input. */
@ExtendWith(NoLeaks.class)
class LossTest {
    private static final int N = 6;
    private static final int C = 5;

    // ------------------------------------------------------------------ plain references (double)

    static double mse(double[] p, double[] z) {
        double s = 0;
        for (int i = 0; i < p.length; i++) s += (p[i] - z[i]) * (p[i] - z[i]);
        return s / p.length;
    }

    static double bce(double[] p, double[] z) {
        double s = 0;
        for (int i = 0; i < p.length; i++) {
            double q = Math.min(Math.max(p[i], 1e-7), 1 - 1e-7);
            s -= z[i] * Math.log(q) + (1 - z[i]) * Math.log(1 - q);
        }
        return s / p.length;
    }

    static double bceLogits(double[] x, double[] z) {
        double s = 0;
        for (int i = 0; i < x.length; i++) {
            // the textbook form through the sigmoid, in BigDecimal-free double; fine for moderate logits
            double sig = 1 / (1 + Math.exp(-x[i]));
            s -= z[i] * Math.log(sig) + (1 - z[i]) * Math.log(1 - sig);
        }
        return s / x.length;
    }

    static double[] logSoftmaxRows(double[] x, int n, int c) {
        return SoftmaxTest.reference(x, new long[] {n, c}, 1, true);
    }

    static double cce(double[] x, double[] t, int n, int c) {
        double[] ls = logSoftmaxRows(x, n, c);
        double s = 0;
        for (int i = 0; i < ls.length; i++) s -= t[i] * ls[i];
        return s / n;
    }

    static double sparseCce(double[] x, int[] labels, int n, int c) {
        double[] ls = logSoftmaxRows(x, n, c);
        double s = 0;
        for (int r = 0; r < n; r++) s -= ls[r * c + labels[r]];
        return s / n;
    }

    // ------------------------------------------------------------------ data

    private static double[] gaussian(int n, long seed, double scale) {
        SplittableRandom r = new SplittableRandom(seed);
        double[] v = new double[n];
        for (int i = 0; i < n; i++) v[i] = scale * r.nextGaussian();
        return v;
    }

    private static double[] uniform(int n, long seed, double lo, double hi) {
        SplittableRandom r = new SplittableRandom(seed);
        double[] v = new double[n];
        for (int i = 0; i < n; i++) v[i] = r.nextDouble(lo, hi);
        return v;
    }

    /** Rows of random probability distributions. */
    private static double[] distributions(int n, int c, long seed) {
        double[] v = uniform(n * c, seed, 0.05, 1);
        for (int r = 0; r < n; r++) {
            double s = 0;
            for (int k = 0; k < c; k++) s += v[r * c + k];
            for (int k = 0; k < c; k++) v[r * c + k] /= s;
        }
        return v;
    }

    private static int[] labels(int n, int c, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        int[] l = new int[n];
        for (int i = 0; i < n; i++) l[i] = r.nextInt(c);
        return l;
    }

    private static float[] f32(double[] d) {
        float[] f = new float[d.length];
        for (int i = 0; i < d.length; i++) f[i] = (float) d[i];
        return f;
    }

    private static double[] widen(double[] d) {
        return Reference.toDouble(f32(d));
    }

    private static void assertLoss(double expected, Tensor loss, double bound) {
        assertEquals(0, loss.ndim(), "a loss is a 0-d tensor");
        double got = loss.item();
        assertTrue(Double.isFinite(got), "non-finite loss " + got);
        Reference.assertClose(new double[] {got}, new double[] {expected}, bound);
    }

    /** Checks one element-wise loss in f32 and f64 against its reference. */
    private void checkPairForward(BiFunction<Tensor, Tensor, Tensor> loss,
                                  java.util.function.ToDoubleBiFunction<double[], double[]> ref, double[] x, double[] z) {
        try (Scope s = Scope.open()) {
            Tensor l32 = loss.apply(Tensor.of(f32(x), 3, 4), Tensor.of(f32(z), 3, 4));
            assertEquals(DType.F32, l32.dtype());
            assertLoss(ref.applyAsDouble(widen(x), widen(z)), l32, Reference.REDUCTION_F32);
            assertLoss(ref.applyAsDouble(x, z), loss.apply(Tensor.of(x, 3, 4), Tensor.of(z, 3, 4)), 1e-13);
        }
    }

    // ------------------------------------------------------------------ forward

    @Test
    void meanSquaredErrorMatchesAPlainLoop() {
        checkPairForward(Losses::meanSquaredError, LossTest::mse, gaussian(12, 1, 1), gaussian(12, 2, 1));
    }

    @Test
    void binaryCrossEntropyMatchesAPlainLoopAndClampsLikeKeras() {
        checkPairForward(Losses::binaryCrossEntropy, LossTest::bce, uniform(12, 3, 0.01, 0.99), uniform(12, 4, 0, 1));
        try (Scope s = Scope.open()) {
            // probabilities of exactly 0 and 1 are clamped: finite, -log(1e-7) per wrong certain answer
            Tensor p = Tensor.of(new double[] {0, 1, 1, 0});
            Tensor z = Tensor.of(new double[] {1, 0, 1, 0});
            double expected = (2 * -Math.log(1e-7) + 2 * -Math.log1p(-1e-7)) / 4;
            assertEquals(expected, Losses.binaryCrossEntropy(p, z).item(), 1e-9);
            assertTrue(Double.isFinite(Losses.binaryCrossEntropy(p.to(DType.F32), z.to(DType.F32)).item()));
        }
    }

    @Test
    void binaryCrossEntropyWithLogitsMatchesAPlainLoopAndIsStable() {
        checkPairForward(Losses::binaryCrossEntropyWithLogits, LossTest::bceLogits, gaussian(12, 5, 3),
                uniform(12, 6, 0, 1));
        try (Scope s = Scope.open()) {
            // logits of +-1e4: the naive form gives log(0); the stable one the exact values
            Tensor x = Tensor.of(new float[] {1e4f, -1e4f, 1e4f, -1e4f});
            Tensor z = Tensor.of(new float[] {1, 0, 0, 1});
            assertEquals((0 + 0 + 1e4 + 1e4) / 4, Losses.binaryCrossEntropyWithLogits(x, z).item(), 1e-3);
        }
    }

    @Test
    void categoricalCrossEntropyMatchesAPlainLoopAndIsStable() {
        double[] x = gaussian(N * C, 7, 3);
        double[] t = distributions(N, C, 8);
        try (Scope s = Scope.open()) {
            assertLoss(cce(widen(x), widen(t), N, C),
                    Losses.categoricalCrossEntropy(Tensor.of(f32(x), N, C), Tensor.of(f32(t), N, C)),
                    Reference.REDUCTION_F32);
            assertLoss(cce(x, t, N, C), Losses.categoricalCrossEntropy(Tensor.of(x, N, C), Tensor.of(t, N, C)), 1e-13);
            // huge logits: finite, and equal to the exact answer
            float[] big = {1e4f, -1e4f, 0, -1e4f, 1e4f, 1e4f};
            float[] oneHot = {0, 1, 0, 1, 0, 0};
            double expected = ((1e4 + 1e4) + (1e4 + 1e4 + Math.log(2))) / 2;
            for (boolean grad : new boolean[] {false, true}) {
                Tensor logits = Tensor.of(big, 2, 3).setRequiresGrad(grad);
                Tensor loss = Losses.categoricalCrossEntropy(logits, Tensor.of(oneHot, 2, 3));
                assertEquals(expected, loss.item(), 1e-2);
                if (grad) {
                    loss.backward();
                    for (double g : logits.grad().toDoubleArray()) assertTrue(Double.isFinite(g));
                }
            }
        }
    }

    @Test
    void sparseCategoricalCrossEntropyMatchesAPlainLoopAndIsStable() {
        double[] x = gaussian(N * C, 9, 3);
        int[] y = labels(N, C, 10);
        try (Scope s = Scope.open()) {
            Tensor labels = Tensor.ofInts(y);
            assertLoss(sparseCce(widen(x), y, N, C),
                    Losses.sparseCategoricalCrossEntropy(Tensor.of(f32(x), N, C), labels), Reference.REDUCTION_F32);
            assertLoss(sparseCce(x, y, N, C), Losses.sparseCategoricalCrossEntropy(Tensor.of(x, N, C), labels), 1e-13);
            // agrees with the dense form on one-hot targets
            double[] oneHot = new double[N * C];
            for (int r = 0; r < N; r++) oneHot[r * C + y[r]] = 1;
            assertEquals(Losses.categoricalCrossEntropy(Tensor.of(x, N, C), Tensor.of(oneHot, N, C)).item(),
                    Losses.sparseCategoricalCrossEntropy(Tensor.of(x, N, C), labels).item(), 1e-13);
            // huge logits
            Tensor big = Tensor.of(new float[] {1e4f, -1e4f, 0, -1e4f, 1e4f, 1e4f}, 2, 3).setRequiresGrad(true);
            Tensor loss = Losses.sparseCategoricalCrossEntropy(big, Tensor.ofInts(new int[] {1, 0}));
            assertEquals(((1e4 + 1e4) + (1e4 + 1e4 + Math.log(2))) / 2, loss.item(), 1e-2);
            loss.backward();
            double[] g = big.grad().toDoubleArray();
            // (softmax - onehot) / N: row 0 softmax = (1, 0, 0), label 1; row 1 softmax = (0, .5, .5), label 0
            double[] expected = {0.5, -0.5, 0, -0.5, 0.25, 0.25};
            Reference.assertClose(g, expected, 1e-6);
        }
    }

    @Test
    void nonContiguousInputsAreRead() {
        double[] x = gaussian(N * C, 11, 2);
        double[] t = distributions(N, C, 12);
        try (Scope s = Scope.open()) {
            // the transpose of a [C, N] tensor holding x^T is x as a non-contiguous view
            double[] xt = new double[N * C];
            for (int r = 0; r < N; r++) for (int k = 0; k < C; k++) xt[k * N + r] = x[r * C + k];
            Tensor view = Tensor.of(xt, C, N).transpose(0, 1);
            assertFalse(view.isContiguous());
            assertEquals(cce(x, t, N, C), Losses.categoricalCrossEntropy(view, Tensor.of(t, N, C)).item(), 1e-13);
            assertEquals(mse(x, t), Losses.meanSquaredError(view, Tensor.of(t, N, C)).item(), 1e-13);
        }
    }

    // ------------------------------------------------------------------ gradients

    @Test
    void gradientsOfEveryLoss() {
        // Targets are constants captured by each function: Gradcheck differentiates every float64 input it is
        // given, and targets deliberately get no gradient (targetsGetNoGradient checks that).
        try (Scope s = Scope.open()) {
            Tensor p = Tensor.of(gaussian(12, 13, 1), 3, 4);
            Tensor z = Tensor.of(gaussian(12, 14, 1), 3, 4);
            Gradcheck.assertGradients("meanSquaredError", xs -> Losses.meanSquaredError(xs[0], z), p);
            Tensor prob = Tensor.of(uniform(12, 15, 0.05, 0.95), 3, 4);
            Tensor zt = Tensor.of(uniform(12, 16, 0, 1), 3, 4);
            Gradcheck.assertGradients("binaryCrossEntropy", xs -> Losses.binaryCrossEntropy(xs[0], zt), prob);
            Tensor logit = Tensor.of(gaussian(12, 17, 2), 3, 4);
            Gradcheck.assertGradients("binaryCrossEntropyWithLogits",
                    xs -> Losses.binaryCrossEntropyWithLogits(xs[0], zt), logit);
            Tensor x = Tensor.of(gaussian(N * C, 18, 2), N, C);
            Tensor dist = Tensor.of(distributions(N, C, 19), N, C);
            Gradcheck.assertGradients("categoricalCrossEntropy", xs -> Losses.categoricalCrossEntropy(xs[0], dist), x);
            // targets that do not sum to one: the gradient is still exact
            Tensor loose = Tensor.of(uniform(N * C, 20, 0, 1), N, C);
            Gradcheck.assertGradients("categoricalCrossEntropy unnormalised targets",
                    xs -> Losses.categoricalCrossEntropy(xs[0], loose), x);
            Tensor labels = Tensor.ofInts(labels(N, C, 21));
            Gradcheck.assertGradients("sparseCategoricalCrossEntropy",
                    xs -> Losses.sparseCategoricalCrossEntropy(xs[0], xs[1]), x, labels);
            // losses inside a graph: logits from a reduction, with a non-contiguous view on the way
            Tensor x3 = Tensor.of(gaussian(2 * N * C, 22, 1), 2, C, N);
            Gradcheck.assertGradients("sparse CE of max over a transposed input",
                    xs -> Losses.sparseCategoricalCrossEntropy(xs[0].max(new int[] {0}, false).transpose(0, 1), xs[1]),
                    x3, labels);
            Gradcheck.assertGradients("MSE of a transposed softmax",
                    xs -> Losses.meanSquaredError(xs[0].softmax(0).transpose(0, 1), dist.transpose(0, 1)), x);
        }
    }

    @Test
    void targetsGetNoGradient() {
        try (Scope s = Scope.open()) {
            Tensor p = Tensor.of(new double[] {0.2, 0.7}).setRequiresGrad(true);
            Tensor z = Tensor.of(new double[] {0, 1}).setRequiresGrad(true);
            Losses.binaryCrossEntropy(p, z).backward();
            assertNotNull(p.grad());
            assertNull(z.grad());
            // only a target requires grad: nothing is recorded
            Tensor q = Tensor.of(new double[] {0.2, 0.7});
            assertFalse(Losses.meanSquaredError(q, z).requiresGrad());
        }
    }

    // ------------------------------------------------------------------ bad input

    @Test
    void badInputIsRejectedWithTheOpNameAndShapes() {
        try (Scope s = Scope.open()) {
            Tensor a = Tensor.zeros(3, 4);
            Tensor b = Tensor.zeros(4, 3);
            for (String op : new String[] {"meanSquaredError", "binaryCrossEntropy", "binaryCrossEntropyWithLogits"}) {
                BiFunction<Tensor, Tensor, Tensor> f = switch (op) {
                    case "meanSquaredError" -> Losses::meanSquaredError;
                    case "binaryCrossEntropy" -> Losses::binaryCrossEntropy;
                    default -> Losses::binaryCrossEntropyWithLogits;
                };
                ShapeException e = assertThrows(ShapeException.class, () -> f.apply(a, b));
                assertTrue(e.getMessage().startsWith(op + ":") && e.getMessage().contains("float32[3, 4]")
                        && e.getMessage().contains("float32[4, 3]"), e.getMessage());
                DTypeException d = assertThrows(DTypeException.class, () -> f.apply(a, Tensor.zeros(DType.F64,
                        a.device(), 3, 4)));
                assertTrue(d.getMessage().startsWith(op + ":") && d.getMessage().contains("float64"), d.getMessage());
                Tensor ints = Tensor.ofInts(new int[] {1, 0});
                d = assertThrows(DTypeException.class, () -> f.apply(ints, ints));
                assertTrue(d.getMessage().startsWith(op + ":") && d.getMessage().contains("int32"), d.getMessage());
                e = assertThrows(ShapeException.class, () -> f.apply(Tensor.zeros(0), Tensor.zeros(0)));
                assertTrue(e.getMessage().startsWith(op + ":"), e.getMessage());
                Tensor closed = Tensor.zeros(3, 4);
                closed.close();
                ClosedTensorException c = assertThrows(ClosedTensorException.class, () -> f.apply(closed, a));
                assertTrue(c.getMessage().startsWith(op + ":"), c.getMessage());
            }

            String cce = "categoricalCrossEntropy";
            ShapeException e = assertThrows(ShapeException.class, () -> Losses.categoricalCrossEntropy(a, b));
            assertTrue(e.getMessage().startsWith(cce + ": logits float32[3, 4]") && e.getMessage().contains("float32[4, 3]"),
                    e.getMessage());
            e = assertThrows(ShapeException.class, () -> Losses.categoricalCrossEntropy(Tensor.zeros(12), Tensor.zeros(12)));
            assertTrue(e.getMessage().startsWith(cce + ": logits float32[12]") && e.getMessage().contains("[N, C]"),
                    e.getMessage());
            assertThrows(ShapeException.class, () -> Losses.categoricalCrossEntropy(Tensor.zeros(0, 4), Tensor.zeros(0, 4)));
            DTypeException d = assertThrows(DTypeException.class,
                    () -> Losses.categoricalCrossEntropy(a, Tensor.zeros(DType.F64, a.device(), 3, 4)));
            assertTrue(d.getMessage().startsWith(cce + ":"), d.getMessage());

            String sp = "sparseCategoricalCrossEntropy";
            Tensor good = Tensor.ofInts(new int[] {0, 3, 2});
            assertEquals(Math.log(4), Losses.sparseCategoricalCrossEntropy(a, good).item(), 1e-6);
            SomaException range = assertThrows(SomaException.class,
                    () -> Losses.sparseCategoricalCrossEntropy(a, Tensor.ofInts(new int[] {0, 4, 1})));
            assertTrue(range.getMessage().startsWith(sp + ": label 4 at index 1") && range.getMessage().contains("4 classes"),
                    range.getMessage());
            range = assertThrows(SomaException.class,
                    () -> Losses.sparseCategoricalCrossEntropy(a, Tensor.ofInts(new int[] {0, 1, -1})));
            assertTrue(range.getMessage().startsWith(sp + ": label -1 at index 2"), range.getMessage());
            e = assertThrows(ShapeException.class, () -> Losses.sparseCategoricalCrossEntropy(a, Tensor.ofInts(new int[] {0, 1})));
            assertTrue(e.getMessage().startsWith(sp + ": labels int32[2]") && e.getMessage().contains("float32[3, 4]"),
                    e.getMessage());
            e = assertThrows(ShapeException.class,
                    () -> Losses.sparseCategoricalCrossEntropy(a, Tensor.ofInts(new int[] {0, 1, 2}, 3, 1)));
            assertTrue(e.getMessage().startsWith(sp + ": labels int32[3, 1]"), e.getMessage());
            d = assertThrows(DTypeException.class, () -> Losses.sparseCategoricalCrossEntropy(a, Tensor.zeros(3)));
            assertTrue(d.getMessage().startsWith(sp + ":") && d.getMessage().contains("expected int32"), d.getMessage());
            d = assertThrows(DTypeException.class,
                    () -> Losses.sparseCategoricalCrossEntropy(Tensor.ofInts(new int[] {1, 2, 3}, 3, 1), good));
            assertTrue(d.getMessage().startsWith(sp + ":"), d.getMessage());
            Tensor closed = Tensor.ofInts(new int[] {0, 0, 0});
            closed.close();
            assertThrows(ClosedTensorException.class, () -> Losses.sparseCategoricalCrossEntropy(a, closed));
        }
    }

    @Test
    void noGradientKeepsNoProbabilitiesAndLeaksNothingOutsideAScope() {
        // outside any scope the caller owns the loss; closing it frees everything, saved probabilities included
        Tensor x = Tensor.of(new double[] {1, 2, 3, 4, 5, 6}, 2, 3).setRequiresGrad(true);
        Tensor labels = Tensor.ofInts(new int[] {2, 0});
        Tensor loss = Losses.sparseCategoricalCrossEntropy(x, labels);
        loss.backward();
        double[] g = x.grad().toDoubleArray();
        double rowSum = g[0] + g[1] + g[2];
        assertEquals(0, rowSum, 1e-12);
        loss.close();
        Tensor plain = Tensor.of(new double[] {1, 2, 3, 4, 5, 6}, 2, 3);
        Tensor l2 = Losses.sparseCategoricalCrossEntropy(plain, labels);
        assertEquals(loss.isClosed(), true);
        l2.close();
        plain.close();
        labels.close();
        x.close();
    }
}
