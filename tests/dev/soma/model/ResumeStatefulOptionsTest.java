package dev.soma.model;

import dev.soma.data.ArrayDataset;
import dev.soma.nn.Dense;
import dev.soma.nn.Dropout;
import dev.soma.nn.MultiHeadAttention;
import dev.soma.nn.Flatten;
import dev.soma.optim.SGD;
import dev.soma.robust.Attacks;
import dev.soma.robust.Norm;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;
import java.util.function.Supplier;

import static dev.soma.model.SaveAnyModelTest.weights;
import static org.junit.jupiter.api.Assertions.*;

/**
 * Resuming runs whose options carry state of their own (found by {@code ResumeFuzzTest}): each must equal the run that
 * never stopped, bit for bit. Each case failed before its fix.
 */
@ExtendWith(NoLeaks.class)
class ResumeStatefulOptionsTest {
    private static final int EPOCHS = 4;

    private static Sequential model(long seed) {
        Sequential m = new Sequential(new Dense(8, "tanh"), new Dropout(0.2), new Dense(3, "softmax"));
        m.seed(seed).compile(new SGD(0.05, 0.9, false), "sparse_categorical_crossentropy", "accuracy");
        return m;
    }

    private static FitOptions options(int epochs) {
        return new FitOptions().batchSize(16).epochs(epochs).seed(3).verbose(0);
    }

    /** Straight for EPOCHS, then interrupted after {@code breakAt} and resumed in a fresh model: same history, weights. */
    private static void resumesAsStraight(Supplier<Sequential> model, Supplier<FitOptions> options, int breakAt,
                                          Supplier<Callback[]> callbacks, Path dir) throws Exception {
        ArrayDataset data = TrainingLoopTest.blobs(96, 3);
        History straight;
        List<float[]> straightWeights;
        try (Sequential m = model.get()) {
            straight = m.fit(data, options.get().epochs(EPOCHS).callbacks(callbacks.get()));
            straightWeights = weights(m);
        }
        Path file = dir.resolve("run.safetensors");
        try (Sequential m = model.get()) {
            Callback[] cs = callbacks.get();
            Callback[] withCheckpoint = java.util.Arrays.copyOf(cs, cs.length + 1);
            withCheckpoint[cs.length] = new ModelCheckpoint(file);
            m.fit(data, options.get().epochs(breakAt).callbacks(withCheckpoint));
        }
        try (Sequential fresh = model.get()) {
            History resumed = fresh.fit(data, options.get().epochs(EPOCHS).resumeFrom(file).callbacks(callbacks.get()));
            assertEquals(straight.all(), resumed.all());
            List<float[]> w = weights(fresh);
            for (int i = 0; i < w.size(); i++) assertArrayEquals(straightWeights.get(i), w.get(i), "weight " + i);
        }
    }

    /** The rate a LearningRateScheduler set comes back with the checkpoint (it used to restart at the compiled one). */
    @Test
    void aRateChangedByALearningRateSchedulerSurvivesAResume(@TempDir Path dir) throws Exception {
        resumesAsStraight(() -> model(1), () -> options(EPOCHS), 2,
                () -> new Callback[] {new LearningRateScheduler((epoch, lr) -> lr * 0.5)}, dir);
    }

    /** Gaussian noise and PGD's random start draw per batch from their seed (they used to restart their stream). */
    @Test
    void augmentedRunsResumeWithTheSameDraws(@TempDir Path dir) throws Exception {
        resumesAsStraight(() -> model(2), () -> options(EPOCHS).gaussianNoise(0.3), 2, () -> new Callback[0], dir);
        resumesAsStraight(() -> model(3), () -> options(EPOCHS).adversarial(Attacks.pgd(Norm.LINF, 0.1, 2, -10, 10, 5)), 1,
                () -> new Callback[0], dir);
    }

    /**
     * A run EarlyStopping ended at the epoch its checkpoint was written stays ended (it used to train on): minDelta so
     * large that nothing improves on epoch 1, patience 1, so the straight run stops after epoch 2.
     */
    @Test
    void aRunEarlyStoppingEndedStaysEnded(@TempDir Path dir) throws Exception {
        Supplier<Callback[]> stop = () -> new Callback[] {new EarlyStopping("loss", 1, 1e6, true)};
        resumesAsStraight(() -> model(4), () -> options(EPOCHS), 2, stop, dir);
        try (Sequential m = model(4)) {
            assertEquals(2, m.fit(TrainingLoopTest.blobs(96, 3), options(EPOCHS).callbacks(stop.get())).epochs());
        }
    }

    /**
     * DP-SGD on a model the ghost-norm path cannot take (attention): each fit's first step attempts it and falls back.
     * The attempt's training forward used to advance the dropout streams and log its loss, so a resumed run (which
     * attempts at its own first step) trained and logged otherwise.
     */
    @Test
    void aPrivateRunThatFallsBackToThePerExamplePathResumes(@TempDir Path dir) throws Exception {
        Supplier<Sequential> attention = () -> {
            Sequential m = new Sequential(new MultiHeadAttention(2, 2).dropout(0.3), new Flatten(), new Dense(3, "softmax"));
            m.seed(5).compile(new SGD(0.05), "sparse_categorical_crossentropy", "accuracy");
            return m;
        };
        dev.soma.data.Batch flat = TrainingLoopTest.blobs(96, 3).gather(java.util.stream.IntStream.range(0, 96).toArray());
        ArrayDataset data = ArrayDataset.withLabels(flat.x(), new long[] {2, 2}, flat.yLabels()); // two steps of two
        History straight;
        List<float[]> straightWeights;
        Supplier<FitOptions> options = () -> options(EPOCHS).privacy(0.5, 1.0, 1e-5);
        try (Sequential m = attention.get()) {
            straight = m.fit(data, options.get());
            straightWeights = weights(m);
        }
        Path file = dir.resolve("dp.safetensors");
        try (Sequential m = attention.get()) {
            m.fit(data, options.get().epochs(2).callbacks(new ModelCheckpoint(file)));
        }
        try (Sequential fresh = attention.get()) {
            History resumed = fresh.fit(data, options.get().resumeFrom(file));
            assertEquals(straight.all(), resumed.all());
            List<float[]> w = weights(fresh);
            for (int i = 0; i < w.size(); i++) assertArrayEquals(straightWeights.get(i), w.get(i), "weight " + i);
        }
    }
}
