package dev.soma.model;

import dev.soma.autograd.Gradcheck;
import dev.soma.data.ArrayDataset;
import dev.soma.errors.ShapeException;
import dev.soma.memory.Scope;
import dev.soma.nn.Dense;
import dev.soma.optim.Adam;
import dev.soma.tensor.DType;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Label smoothing on the cross-entropies: against float64 loops over the smoothed targets (1 - s)·y + s/C, gradients
 * by finite differences, bad settings, and the setting kept through a checkpoint.
 */
@ExtendWith(NoLeaks.class)
class LabelSmoothingTest {
    private static final String SPARSE = "sparse_categorical_crossentropy";
    private static final String CATEGORICAL = "categorical_crossentropy";

    private static double[] gaussian(int n, long seed, double scale) {
        SplittableRandom r = new SplittableRandom(seed);
        double[] v = new double[n];
        for (int i = 0; i < n; i++) v[i] = scale * r.nextGaussian();
        return v;
    }

    private static int[] labels(int n, int classes, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        int[] y = new int[n];
        for (int i = 0; i < n; i++) y[i] = r.nextInt(classes);
        return y;
    }

    /** Row-wise softmax of {@code x} [rows, c], in double. */
    private static double[] softmax(double[] x, int c) {
        double[] p = new double[x.length];
        for (int r = 0; r < x.length / c; r++) {
            double max = Double.NEGATIVE_INFINITY, sum = 0;
            for (int k = 0; k < c; k++) max = Math.max(max, x[r * c + k]);
            for (int k = 0; k < c; k++) sum += Math.exp(x[r * c + k] - max);
            for (int k = 0; k < c; k++) p[r * c + k] = Math.exp(x[r * c + k] - max) / sum;
        }
        return p;
    }

    /** Mean over rows of -sum_k q_k log p_k with q = (1 - s)·onehot(label) + s/c: the definition, written out. */
    private static double smoothedCrossEntropy(double[] p, int[] labels, int c, double s) {
        double total = 0;
        for (int r = 0; r < labels.length; r++) {
            for (int k = 0; k < c; k++) {
                double q = (k == labels[r] ? 1 - s : 0) + s / c;
                total -= q * Math.log(p[r * c + k]);
            }
        }
        return total / labels.length;
    }

    @Test
    void sparseLossFromLogitsAndFromProbabilitiesIsTheCrossEntropyOfTheSmoothedTargets() {
        int n = 7, c = 5;
        double s = 0.1;
        double[] x = gaussian(n * c, 3, 2.0);
        int[] y = labels(n, c, 4);
        double[] p = softmax(x, c);
        double expected = smoothedCrossEntropy(p, y, c, s);
        Loss loss = Loss.withLabelSmoothing(SPARSE, s);
        try (Scope scope = Scope.open()) {
            for (DType dtype : new DType[] {DType.F64, DType.F32}) {
                double bound = dtype == DType.F64 ? 1e-12 : 1e-6;
                Tensor labels = Tensor.ofInts(y, n);
                double fromLogits = loss.fromLogits().compute(Tensor.of(x, n, c).to(dtype), labels).item();
                double fromProbabilities = loss.compute(Tensor.of(p, n, c).to(dtype), labels).item();
                assertEquals(expected, fromLogits, bound * expected, dtype + " from logits");
                assertEquals(expected, fromProbabilities, bound * expected, dtype + " from probabilities");
            }
            // Smoothing changes the value: the unsmoothed loss of the same logits differs.
            double hard = Loss.byName(SPARSE).fromLogits().compute(Tensor.of(x, n, c), Tensor.ofInts(y, n)).item();
            assertEquals(smoothedCrossEntropy(p, y, c, 0), hard, 1e-12 * hard);
            assertTrue(Math.abs(hard - expected) > 1e-3, "smoothed " + expected + " vs hard " + hard);
        }
    }

    @Test
    void sparseLossOverSequencesSmoothsEveryStep() {
        int n = 3, t = 4, c = 6;
        double s = 0.25;
        double[] x = gaussian(n * t * c, 5, 1.5);
        int[] y = labels(n * t, c, 6);
        double expected = smoothedCrossEntropy(softmax(x, c), y, c, s);
        try (Scope scope = Scope.open()) {
            double got = Loss.withLabelSmoothing(SPARSE, s).fromLogits()
                    .compute(Tensor.of(x, n, t, c), Tensor.ofInts(y, n, t)).item();
            assertEquals(expected, got, 1e-12 * expected);
        }
    }

    @Test
    void categoricalLossEqualsThePlainLossOnSmoothedTargets() {
        int n = 5, c = 4;
        double s = 0.2;
        double[] x = gaussian(n * c, 7, 1.0);
        double[] t = new double[n * c]; // soft targets that sum to one per row
        SplittableRandom r = new SplittableRandom(8);
        for (int i = 0; i < n; i++) {
            double sum = 0;
            for (int k = 0; k < c; k++) sum += t[i * c + k] = r.nextDouble();
            for (int k = 0; k < c; k++) t[i * c + k] /= sum;
        }
        double[] smoothed = new double[t.length];
        for (int i = 0; i < t.length; i++) smoothed[i] = (1 - s) * t[i] + s / c;
        Loss plain = Loss.byName(CATEGORICAL);
        Loss loss = Loss.withLabelSmoothing(CATEGORICAL, s);
        try (Scope scope = Scope.open()) {
            Tensor logits = Tensor.of(x, n, c);
            Tensor probs = Tensor.of(softmax(x, c), n, c);
            assertEquals(plain.fromLogits().compute(logits, Tensor.of(smoothed, n, c)).item(),
                    loss.fromLogits().compute(logits, Tensor.of(t, n, c)).item(), 1e-12);
            assertEquals(plain.compute(probs, Tensor.of(smoothed, n, c)).item(),
                    loss.compute(probs, Tensor.of(t, n, c)).item(), 1e-12);
        }
    }

    @Test
    void binaryLossSmoothsTowardsOneHalf() {
        int n = 9;
        double s = 0.1;
        double[] x = gaussian(n, 9, 2.0);
        double[] z = new double[n];
        for (int i = 0; i < n; i++) z[i] = i % 2;
        double expected = 0;
        for (int i = 0; i < n; i++) {
            double sig = 1 / (1 + Math.exp(-x[i]));
            double q = (1 - s) * z[i] + s / 2;
            expected -= q * Math.log(sig) + (1 - q) * Math.log(1 - sig);
        }
        expected /= n;
        double[] p = new double[n];
        for (int i = 0; i < n; i++) p[i] = 1 / (1 + Math.exp(-x[i]));
        Loss loss = Loss.withLabelSmoothing("binary_crossentropy", s);
        try (Scope scope = Scope.open()) {
            assertEquals(expected, loss.fromLogits().compute(Tensor.of(x, n, 1), Tensor.of(z, n, 1)).item(), 1e-12);
            assertEquals(expected, loss.compute(Tensor.of(p, n, 1), Tensor.of(z, n, 1)).item(), 1e-12);
        }
    }

    @Test
    void gradientsMatchFiniteDifferences() {
        int n = 4, c = 5;
        double[] x = gaussian(n * c, 11, 1.5);
        double[] p = softmax(x, c);
        int[] y = labels(n, c, 12);
        try (Scope scope = Scope.open()) {
            Tensor labels = Tensor.ofInts(y, n);
            Loss sparse = Loss.withLabelSmoothing(SPARSE, 0.1);
            Gradcheck.assertGradients("smoothed sparse CE from logits", xs -> sparse.fromLogits().compute(xs[0], labels),
                    Tensor.of(x, n, c));
            Gradcheck.assertGradients("smoothed sparse CE from probabilities", xs -> sparse.compute(xs[0], labels),
                    Tensor.of(p, n, c));
            Tensor targets = Tensor.of(softmax(gaussian(n * c, 13, 1.0), c), n, c);
            Loss categorical = Loss.withLabelSmoothing(CATEGORICAL, 0.3);
            Gradcheck.assertGradients("smoothed categorical CE from logits",
                    xs -> categorical.fromLogits().compute(xs[0], targets), Tensor.of(x, n, c));
            double[] z = new double[n * c];
            for (int i = 0; i < z.length; i++) z[i] = i % 3 == 0 ? 1 : 0;
            Tensor binaryTargets = Tensor.of(z, n, c);
            Loss binary = Loss.withLabelSmoothing("binary_crossentropy", 0.2);
            Gradcheck.assertGradients("smoothed binary CE from logits",
                    xs -> binary.fromLogits().compute(xs[0], binaryTargets), Tensor.of(x, n, c));
        }
    }

    @Test
    void zeroSmoothingIsThePlainLossAndItsConfigIsKept() {
        assertEquals(Map.of(), Loss.withLabelSmoothing(SPARSE, 0).config());
        assertEquals(Map.of("label_smoothing", 0.15), Loss.withLabelSmoothing(SPARSE, 0.15).config());
        Loss restored = Loss.byName(SPARSE, Loss.withLabelSmoothing(SPARSE, 0.15).config());
        assertEquals(SPARSE, restored.name());
        assertEquals(Map.of("label_smoothing", 0.15), restored.config());
        assertTrue(restored.sparseTargets());
        assertEquals("softmax", restored.foldsActivation());
    }

    @Test
    void badSettingsAreRefusedNamingTheLoss() {
        for (double bad : new double[] {-0.1, 1, 1.5, Double.NaN, Double.POSITIVE_INFINITY}) {
            var e = assertThrows(IllegalArgumentException.class, () -> Loss.withLabelSmoothing(SPARSE, bad));
            assertTrue(e.getMessage().contains(SPARSE) && e.getMessage().contains("[0, 1)"), e.getMessage());
        }
        var mse = assertThrows(IllegalArgumentException.class, () -> Loss.withLabelSmoothing("mse", 0.1));
        assertTrue(mse.getMessage().contains("mean_squared_error") && mse.getMessage().contains("cross-entropies"),
                mse.getMessage());
        var key = assertThrows(IllegalArgumentException.class, () -> Loss.byName(SPARSE, Map.of("smoothing", 0.1)));
        assertTrue(key.getMessage().contains("smoothing") && key.getMessage().contains("label_smoothing"), key.getMessage());
        var type = assertThrows(IllegalArgumentException.class, () -> Loss.byName(SPARSE, Map.of("label_smoothing", "0.1")));
        assertTrue(type.getMessage().contains("must be a number"), type.getMessage());
        // Labels are still checked against the classes.
        try (Scope scope = Scope.open()) {
            Loss loss = Loss.withLabelSmoothing(SPARSE, 0.1).fromLogits();
            var range = assertThrows(ShapeException.class,
                    () -> loss.compute(Tensor.zeros(2, 3), Tensor.ofInts(new int[] {0, 3}, 2)));
            assertTrue(range.getMessage().contains("out of range"), range.getMessage());
        }
    }

    @Test
    void aCheckpointKeepsTheSmoothingAndEvaluatesTheSameLoss(@TempDir Path dir) throws Exception {
        ArrayDataset data = TrainingLoopTest.blobs(96, 21);
        Path file = dir.resolve("smoothed.safetensors");
        Map<String, Double> before;
        try (Sequential m = new Sequential(new Dense(8, "relu"), new Dense(3, "softmax"))) {
            m.seed(5).compile(new Adam(0.02), Loss.withLabelSmoothing(SPARSE, 0.2), "accuracy");
            m.fit(data, new FitOptions().batchSize(16).epochs(3).seed(1).verbose(0));
            before = m.evaluate(data, 32);
            Checkpoint.save(m, file);
        }
        assertTrue(before.get("accuracy") > 0.8, "trains with the smoothed loss: " + before);
        try (Model loaded = Checkpoint.loadModel(file)) {
            assertEquals(Map.of("label_smoothing", 0.2), loaded.loss().config());
            Map<String, Double> after = loaded.evaluate(data, 32);
            assertEquals(before.get("loss"), after.get("loss"), 0.0);
            assertEquals(before.get("accuracy"), after.get("accuracy"), 0.0);
        }
    }
}
