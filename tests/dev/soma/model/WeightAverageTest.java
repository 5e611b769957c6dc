package dev.soma.model;

import dev.soma.data.ArrayDataset;
import dev.soma.nn.BatchNormalization;
import dev.soma.nn.Dense;
import dev.soma.nn.Param;
import dev.soma.optim.SGD;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

@ExtendWith(NoLeaks.class)
class WeightAverageTest {
    private static final double DECAY = 0.8;

    /** Every parameter (trainable and BatchNormalization's moving statistics) as one flat vector. */
    private static double[] flat(Model m) {
        List<Double> all = new ArrayList<>();
        for (Param p : m.params()) for (float v : p.value().toFloatArray()) all.add((double) v);
        return all.stream().mapToDouble(Double::doubleValue).toArray();
    }

    /** Trains 2 epochs of 6 SGD steps, recording the live weights after every step and the weights each epoch ends with. */
    private static final class Run {
        final List<double[]> iterates = new ArrayList<>();
        final List<double[]> atEpochEnd = new ArrayList<>();
        double[] after;
        History history;
        Map<String, Double> evaluated;
    }

    private static Run train(FitOptions options, ArrayDataset val) {
        return train(options, val, true);
    }

    private static Run train(FitOptions options, ArrayDataset val, boolean batchNorm) {
        Run run = new Run();
        try (Sequential m = batchNorm ? new Sequential(new Dense(5, "relu"), new BatchNormalization(), new Dense(3, "softmax"))
                : new Sequential(new Dense(5, "relu"), new Dense(3, "softmax"))) {
            m.seed(7).compile(new SGD(0.2, 0.5, false), "sparse_categorical_crossentropy", "accuracy");
            options.batchSize(16).epochs(2).seed(3).verbose(0).validationData(val).callbacks(new Callback() {
                @Override
                public void onBatchEnd(Model model, int batch, Map<String, Double> logs) {
                    run.iterates.add(flat(model));
                }

                @Override
                public void onEpochEnd(Model model, int epoch, Map<String, Double> logs) {
                    run.atEpochEnd.add(flat(model));
                }
            });
            run.history = m.fit(TrainingLoopTest.blobs(96, 1), options);
            run.after = flat(m);
            run.evaluated = m.evaluate(val, 32);
        }
        return run;
    }

    /** The bias-corrected EMA of the first {@code t} iterates, in double: (1-d) sum d^(t-i) w_i / (1 - d^t). */
    private static double[] ema(List<double[]> iterates, int t) {
        double[] a = new double[iterates.get(0).length];
        for (int s = 0; s < t; s++) {
            for (int k = 0; k < a.length; k++) a[k] = DECAY * a[k] + (1 - DECAY) * iterates.get(s)[k];
        }
        double norm = 1 - Math.pow(DECAY, t);
        for (int k = 0; k < a.length; k++) a[k] /= norm;
        return a;
    }

    @Test
    void fitValidatesCheckpointsAndReturnsTheAverageWhileTrainingFollowsTheLiveWeights(@TempDir Path dir) throws Exception {
        ArrayDataset val = TrainingLoopTest.blobs(64, 2);
        Run plain = train(new FitOptions(), val);
        Path file = dir.resolve("avg.safetensors");
        Run averaged = train(new FitOptions().weightAverage(DECAY).callbacks(new ModelCheckpoint(file)), val);

        assertEquals(12, averaged.iterates.size());
        // The average is only looked at, never trained from: the live iterates are those of a run without it.
        for (int s = 0; s < 12; s++) assertArrayEquals(plain.iterates.get(s), averaged.iterates.get(s), 0.0, "step " + s);
        // Epoch ends (validation, callbacks) see the EMA of the iterates so far, BatchNormalization's statistics too.
        assertArrayEquals(ema(averaged.iterates, 6), averaged.atEpochEnd.get(0), 1e-5);
        double[] expected = ema(averaged.iterates, 12);
        assertArrayEquals(expected, averaged.atEpochEnd.get(1), 1e-5);
        assertArrayEquals(expected, averaged.after, 1e-5, "fit returns the averaged model");
        // The average differs from the last iterate (else this test could not tell them apart).
        double gap = 0;
        double[] last = averaged.iterates.get(11);
        for (int k = 0; k < last.length; k++) gap = Math.max(gap, Math.abs(last[k] - expected[k]));
        assertTrue(gap > 1e-3, "average and last iterate differ by " + gap);
        // Validation ran on the averaged weights: it equals evaluating the returned model.
        assertEquals(averaged.evaluated.get("loss"), averaged.history.last("val_loss"), 1e-6); // other batch size: float sums
        assertNotEquals(plain.history.last("val_loss"), averaged.history.last("val_loss"));
        // The epoch-end checkpoint holds the averaged weights.
        try (Sequential loaded = Sequential.load(file)) {
            assertArrayEquals(expected, flat(loaded), 1e-5);
        }
    }

    @Test
    void decayZeroIsTheLastIterate() {
        ArrayDataset val = TrainingLoopTest.blobs(32, 2);
        Run plain = train(new FitOptions(), val);
        Run zero = train(new FitOptions().weightAverage(0), val);
        assertArrayEquals(plain.after, zero.after, 1e-6);
    }

    @Test
    void privateTrainingAveragesTheNoisyIteratesAtTheSameEpsilon() {
        ArrayDataset val = TrainingLoopTest.blobs(32, 2);
        // Without BatchNormalization: DP-SGD's per-example clipping needs per-example gradients (the ghost path).
        Run plain = train(new FitOptions().privacy(1.0, 1.0, 1e-5), val, false);
        Run averaged = train(new FitOptions().privacy(1.0, 1.0, 1e-5).weightAverage(DECAY), val, false);
        assertArrayEquals(plain.history.arrays().get("epsilon"), averaged.history.arrays().get("epsilon"), 0.0);
        int steps = averaged.iterates.size();
        assertArrayEquals(ema(averaged.iterates, steps), averaged.after, 1e-5);
        assertArrayEquals(plain.iterates.get(steps - 1), averaged.iterates.get(steps - 1), 0.0);
    }

    @Test
    void badDecayAndResumeAreRefused(@TempDir Path dir) {
        for (double d : new double[] {-0.1, 1.0, Double.NaN}) {
            var e = assertThrows(IllegalArgumentException.class, () -> new FitOptions().weightAverage(d));
            assertTrue(e.getMessage().contains("weightAverage"), e.getMessage());
        }
        try (Sequential m = new Sequential(new Dense(3, "softmax"))) {
            m.compile(new SGD(0.1), "sparse_categorical_crossentropy");
            var e = assertThrows(UnsupportedOperationException.class, () -> m.fit(TrainingLoopTest.blobs(16, 1),
                    new FitOptions().weightAverage(0.9).resumeFrom(dir.resolve("x.safetensors")).verbose(0)));
            assertTrue(e.getMessage().contains("resumeFrom") && e.getMessage().contains("weightAverage"), e.getMessage());
        }
    }
}
