package dev.soma.privacy;

import dev.soma.data.ArrayDataset;
import dev.soma.model.Callback;
import dev.soma.model.FitOptions;
import dev.soma.model.History;
import dev.soma.model.Model;
import dev.soma.model.Sequential;
import dev.soma.nn.Dense;
import dev.soma.nn.Initializer;
import dev.soma.optim.SGD;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** DP-SGD inside fit: clipping, noise scale, the epsilon in the history, argument checks. */
@ExtendWith(NoLeaks.class)
class PrivateTrainingTest {
    /** y = x · w, no bias, w starting at 0; mse; plain SGD at learning rate 1, so the update is minus the gradient. */
    private static Sequential linear(int in, int out) {
        Sequential m = new Sequential(new Dense(out).useBias(false).kernelInitializer(Initializer.zeros()));
        m.compile(new SGD(1.0), "mse");
        m.build(in);
        return m;
    }

    @Test
    void everyExampleContributesAtMostTheClippingNormWithoutNoise() {
        // Three examples x_i with targets y_i; at w = 0 the mse gradient of one example is -2 y_i x_i.
        float[][] x = {{1, 0}, {0, 1}, {3, 4}};
        float[] y = {0.1f, -0.2f, 100f};   // the last one's gradient has norm 2 * 100 * 5 = 1000
        double clip = 1.0;
        ArrayDataset data = ArrayDataset.withTargets(new float[] {1, 0, 0, 1, 3, 4}, new long[] {2}, y, new long[] {1});
        try (Sequential m = linear(2, 1)) {
            // batchSize = N: q = 1, so every example is in the single step of the epoch and the expected batch is 3.
            m.fit(data, new FitOptions().batchSize(3).epochs(1).verbose(0).privacy(0, clip, 1e-5));
            double[] expected = new double[2];
            for (int i = 0; i < 3; i++) {
                double g0 = -2 * y[i] * x[i][0], g1 = -2 * y[i] * x[i][1];
                double norm = Math.hypot(g0, g1);
                double scale = Math.min(1, clip / (norm + 1e-6));
                expected[0] += g0 * scale;
                expected[1] += g1 * scale;
            }
            float[] w = m.params().get(0).value().toFloatArray();
            // w = 0 - lr * clipped sum / (q N)
            assertEquals(-expected[0] / 3, w[0], 1e-5);
            assertEquals(-expected[1] / 3, w[1], 1e-5);
            // The huge example moved w by at most clip / 3 in norm: without clipping w[1] would be ~ +266.
            assertTrue(Math.hypot(w[0], w[1]) <= 3 * clip / 3 + 1e-5, "total update bounded by N clip / (qN)");
        }
    }

    /** Conv2D -> Flatten -> Dense softmax, seeded, plain SGD. */
    private static Sequential conv() {
        Sequential m = new Sequential(new dev.soma.nn.Conv2D(3, 3, "relu"), new dev.soma.nn.Flatten(),
                new Dense(4, "softmax"));
        m.seed(4);
        m.compile(new SGD(0.5), "sparse_categorical_crossentropy");
        m.build(6, 6, 1);
        return m;
    }

    @Test
    void withoutNoiseOrClippingThePerExamplePathIsTheOrdinaryFullBatchStep() {
        // q = 1, noise 0, a clipping bound no gradient reaches: the sum of per-example gradients over N is the
        // gradient of the batch's mean loss, so one private step must equal one ordinary step (Conv2D included).
        int n = 6;
        java.util.SplittableRandom r = new java.util.SplittableRandom(2);
        float[] x = new float[n * 36];
        for (int i = 0; i < x.length; i++) x[i] = (float) r.nextDouble();
        int[] y = {0, 1, 2, 3, 1, 2};
        ArrayDataset data = ArrayDataset.withLabels(x, new long[] {6, 6, 1}, y);
        List<float[]> plain = new ArrayList<>(), dp = new ArrayList<>();
        try (Sequential m = conv()) {
            m.fit(data, new FitOptions().batchSize(n).epochs(1).shuffle(false).verbose(0));
            for (var p : m.params()) plain.add(p.value().toFloatArray());
        }
        try (Sequential m = conv()) {
            float[] before = m.params().get(0).value().toFloatArray();
            m.fit(data, new FitOptions().batchSize(n).epochs(1).verbose(0).privacy(0, 1e6, 1e-5));
            for (var p : m.params()) dp.add(p.value().toFloatArray());
            assertFalse(java.util.Arrays.equals(before, dp.get(0)), "the step moved the conv kernel");
        }
        for (int i = 0; i < plain.size(); i++) assertArrayEquals(plain.get(i), dp.get(i), 1e-5f, "param " + i);
    }

    /**
     * The logged loss of a step is the whole sample's, however the ghost path cuts it into physical batches (it was
     * the first part's alone, then). At w = 0 the mse of every example is y², so the one step's loss is mean(y²).
     */
    @Test
    void physicalBatchesLogTheWholeSamplesLoss() {
        int n = 12;
        float[] x = new float[2 * n], y = new float[n];
        double want = 0;
        for (int i = 0; i < n; i++) {
            x[2 * i] = 1;
            x[2 * i + 1] = i;
            y[i] = i - 4.5f;
            want += (double) y[i] * y[i] / n;
        }
        ArrayDataset data = ArrayDataset.withTargets(x, new long[] {2}, y, new long[] {1});
        for (int part : new int[] {5, 1, n}) {
            try (Sequential m = linear(2, 1)) {
                // batchSize = N: q = 1, every example in the epoch's single step
                History h = m.fit(data, new FitOptions().batchSize(n).epochs(1).verbose(0).privacy(0, 1.0, 1e-5)
                        .privacyPhysicalBatch(part));
                assertEquals(want, h.get("loss").get(0), 1e-4 * want, "physical batch " + part);
            }
        }
    }

    @Test
    void noiseHasStdNoiseTimesClipOverExpectedBatch() {
        // Zero inputs: every gradient is 0, so each step's update is pure noise, std noise * clip / (q N) per coordinate.
        int n = 10, batch = 5, units = 50;
        double noise = 1.3, clip = 0.7;
        ArrayDataset data = ArrayDataset.withTargets(new float[n * 2], new long[] {2}, new float[n * units], new long[] {units});
        List<float[]> weights = new ArrayList<>();
        try (Sequential m = linear(2, units)) {
            weights.add(m.params().get(0).value().toFloatArray());
            Callback record = new Callback() {
                @Override
                public void onBatchEnd(Model model, int b, Map<String, Double> logs) {
                    weights.add(model.params().get(0).value().toFloatArray());
                }
            };
            m.fit(data, new FitOptions().batchSize(batch).epochs(20).seed(5).verbose(0).privacy(noise, clip, 1e-5)
                    .callbacks(record));
        }
        assertEquals(41, weights.size(), "2 steps per epoch, 20 epochs");
        double sum = 0, sumSq = 0;
        long k = 0;
        for (int s = 1; s < weights.size(); s++) {
            float[] a = weights.get(s - 1), b = weights.get(s);
            for (int i = 0; i < a.length; i++) {
                double d = b[i] - a[i];
                sum += d;
                sumSq += d * d;
                k++;
            }
        }
        double mean = sum / k;
        double std = Math.sqrt(sumSq / k - mean * mean);
        double expected = noise * clip / (0.5 * n);
        assertEquals(4000, k);
        assertEquals(expected, std, 0.05 * expected, "per-coordinate std of the update (4000 draws: ~1% sampling error)");
        assertEquals(0, mean, 4 * expected / Math.sqrt(k), "noise is centred");
    }

    @Test
    void historyEpsilonEqualsTheAccountantsForTheSameSteps() {
        int n = 100, batch = 10;
        double noise = 1.1, delta = 1e-5;
        float[] xs = new float[n * 2];
        float[] ys = new float[n];
        java.util.SplittableRandom r = new java.util.SplittableRandom(1);
        for (int i = 0; i < xs.length; i++) xs[i] = (float) r.nextGaussian();
        for (int i = 0; i < n; i++) ys[i] = xs[2 * i] - xs[2 * i + 1];
        ArrayDataset data = ArrayDataset.withTargets(xs, new long[] {2}, ys, new long[] {1});
        History h;
        try (Sequential m = linear(2, 1)) {
            h = m.fit(data, new FitOptions().batchSize(batch).epochs(3).verbose(0).privacy(noise, 1.0, delta));
        }
        double[] eps = h.arrays().get("epsilon");
        assertNotNull(eps, "epsilon in the history: " + h.arrays().keySet());
        assertEquals(3, eps.length);
        for (int k = 1; k <= 3; k++) {
            RdpAccountant acc = new RdpAccountant();
            acc.step(0.1, noise, 10L * k);
            assertEquals(acc.epsilon(delta), eps[k - 1], 1e-12, "epsilon after epoch " + k);
        }
        assertTrue(eps[0] < eps[1] && eps[1] < eps[2], "privacy spent grows");
    }

    @Test
    void refusesBadArguments() {
        assertBad(() -> new FitOptions().privacy(-1, 1, 1e-5), "noiseMultiplier");
        assertBad(() -> new FitOptions().privacy(Double.NaN, 1, 1e-5), "noiseMultiplier");
        assertBad(() -> new FitOptions().privacy(1, 0, 1e-5), "maxGradNorm");
        assertBad(() -> new FitOptions().privacy(1, Double.POSITIVE_INFINITY, 1e-5), "maxGradNorm");
        assertBad(() -> new FitOptions().privacy(1, 1, 0), "delta");
        assertBad(() -> new FitOptions().privacy(1, 1, 1), "delta");
        ArrayDataset data = ArrayDataset.withTargets(new float[8], new long[] {2}, new float[4], new long[] {1});
        try (Sequential m = linear(2, 1)) {
            assertBad(() -> m.fit(data, new FitOptions().batchSize(5).verbose(0).privacy(1, 1, 1e-5)), "batchSize");
            // The training part is what Poisson sampling draws from: 4 examples less a split of 1.
            assertBad(() -> m.fit(data, new FitOptions().batchSize(4).validationSplit(0.25).verbose(0).privacy(1, 1, 1e-5)),
                    "more than the 3 training examples (after validationSplit)");
            assertBad(() -> m.fit(data, new FitOptions().batchSize(Integer.MAX_VALUE).verbose(0).privacy(1, 1, 1e-5)),
                    "DP-SGD");
        }
    }

    @Test
    void refusesBatchStatisticsAndLeavesOrdinaryTrainingAlone() {
        // BatchNormalization mixes a batch's examples in training, so per-example clipping bounds nothing.
        float[] x = new float[16 * 3];
        for (int i = 0; i < x.length; i++) x[i] = (i * 7 % 11) / 11f;
        ArrayDataset data = ArrayDataset.withTargets(x, new long[] {3}, new float[16], new long[] {1});
        try (Sequential m = new Sequential(new Dense(4, "relu"), new dev.soma.nn.BatchNormalization(),
                new Dense(1))) {
            m.compile(new SGD(0.1), "mse");
            m.build(3);
            UnsupportedOperationException e = assertThrows(UnsupportedOperationException.class,
                    () -> m.fit(data, new FitOptions().batchSize(4).epochs(1).verbose(0).privacy(1, 1, 1e-5)));
            assertTrue(e.getMessage().contains("'batch_normalization") && e.getMessage().contains("DP-SGD")
                    && e.getMessage().contains("batch statistics"), e.getMessage());
            // The refusal is scoped to the private step: the same model then trains normally on this thread.
            History h = m.fit(data, new FitOptions().batchSize(4).epochs(1).verbose(0));
            assertTrue(Double.isFinite(h.last("loss")), "ordinary fit after the refusal");
        }
    }

    private static void assertBad(org.junit.jupiter.api.function.Executable call, String names) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call);
        assertTrue(e.getMessage().contains(names), e.getMessage());
    }
}
