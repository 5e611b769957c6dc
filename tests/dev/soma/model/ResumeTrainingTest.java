package dev.soma.model;

import dev.soma.data.ArrayDataset;
import dev.soma.data.MultiArrayDataset;
import dev.soma.errors.SomaException;
import dev.soma.nn.Dense;
import dev.soma.nn.Dropout;
import dev.soma.optim.Adam;
import dev.soma.optim.LearningRateSchedule;
import dev.soma.optim.SGD;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static dev.soma.model.SaveAnyModelTest.compile;
import static dev.soma.model.SaveAnyModelTest.graph;
import static dev.soma.model.SaveAnyModelTest.weights;
import static org.junit.jupiter.api.Assertions.*;

/**
 * Train N epochs straight, or train k, checkpoint, load into a fresh model and continue to N: the weights and the
 * whole history are the same, bit for bit on the CPU (optimizer state, schedule position, dropout streams, epoch).
 */
@ExtendWith(NoLeaks.class)
class ResumeTrainingTest {
    private static final int EPOCHS = 4;

    /** Adam on a cosine schedule over every step of the run, so the learning rate differs at each step. */
    private static Adam adam() {
        Adam a = new Adam(0.02);
        a.schedule(LearningRateSchedule.cosineDecay(0.02, EPOCHS * 5, 0.1));
        return a;
    }

    private static FitOptions options(int epochs) {
        return new FitOptions().batchSize(16).epochs(epochs).seed(11).validationSplit(0.2).verbose(0);
    }

    private static void assertSameWeights(List<float[]> expected, List<float[]> actual) {
        assertEquals(expected.size(), actual.size());
        for (int i = 0; i < expected.size(); i++) assertArrayEquals(expected.get(i), actual.get(i), "weight " + i);
    }

    @Test
    void aResumedFunctionalRunEqualsTheUninterruptedOneBitForBit(@TempDir Path dir) throws Exception {
        MultiArrayDataset data = SaveAnyModelTest.data(100, 21);   // 80 training examples: 5 batches per epoch
        List<float[]> straightWeights;
        History straight;
        try (FunctionalModel m = graph(5)) {
            compile(m, adam());
            straight = m.fit(data, options(EPOCHS));
            straightWeights = weights(m);
        }
        Path file = dir.resolve("run.safetensors");
        try (FunctionalModel m = graph(5)) {
            compile(m, adam());
            m.fit(data, options(2).callbacks(new ModelCheckpoint(file)));   // "interrupted" after epoch 2
        }
        // A fresh model built by the same code but seeded differently: everything that matters comes from the file.
        try (FunctionalModel fresh = graph(99)) {
            compile(fresh, adam());
            History resumed = fresh.fit(data, options(EPOCHS).resumeFrom(file));
            assertEquals(straight.all(), resumed.all(), "the resumed history holds every epoch, equal to the straight run's");
            assertSameWeights(straightWeights, weights(fresh));
            assertEquals(EPOCHS, fresh.completedEpochs());
        }
        // Keras' way: load the whole model (its optimizer and schedule come from the file) and give initialEpoch.
        try (Model loaded = Checkpoint.loadModel(file)) {
            History resumed = loaded.fit(data, options(EPOCHS).initialEpoch(loaded.completedEpochs()));
            assertEquals(straight.all(), resumed.all());
            assertSameWeights(straightWeights, weights(loaded));
        }
    }

    private static Sequential sequential(long seed) {
        Sequential m = new Sequential(new Dense(16, "relu"), new Dropout(0.25), new Dense(3, "softmax"));
        m.seed(seed).compile(new SGD(0.05, 0.9, true), "sparse_categorical_crossentropy", "accuracy");
        return m;
    }

    @Test
    void aResumedSequentialRunWritesTheSameCsvLogAndWeights(@TempDir Path dir) throws Exception {
        ArrayDataset data = TrainingLoopTest.blobs(120, 3);
        Path straightCsv = dir.resolve("straight.csv");
        List<float[]> straightWeights;
        try (Sequential m = sequential(1)) {
            m.fit(data, options(EPOCHS).callbacks(new CsvLogger(straightCsv)));
            straightWeights = weights(m);
        }
        Path file = dir.resolve("seq.safetensors");
        Path csv = dir.resolve("resumed.csv");
        try (Sequential m = sequential(1)) {
            m.fit(data, options(3).callbacks(new ModelCheckpoint(file), new CsvLogger(csv)));
        }
        // The interrupted run had logged one more epoch than its checkpoint holds: the resumed log must not keep it.
        Files.writeString(csv, "9,9,9\n", java.nio.file.StandardOpenOption.APPEND);
        try (Sequential fresh = sequential(2)) {
            History h = fresh.fit(data, options(EPOCHS).resumeFrom(file).callbacks(new CsvLogger(csv)));
            assertEquals(EPOCHS, h.epochs());
            assertSameWeights(straightWeights, weights(fresh));
        }
        assertEquals(Files.readString(straightCsv), Files.readString(csv));
    }

    @Test
    void resumingAFinishedRunTrainsNothing(@TempDir Path dir) throws Exception {
        ArrayDataset data = TrainingLoopTest.blobs(64, 3);
        Path file = dir.resolve("done.safetensors");
        List<float[]> saved;
        try (Sequential m = sequential(1)) {
            m.fit(data, options(2).callbacks(new ModelCheckpoint(file)));
            saved = weights(m);
        }
        try (Sequential fresh = sequential(7)) {
            History h = fresh.fit(data, options(2).resumeFrom(file));
            assertEquals(2, h.epochs());
            assertSameWeights(saved, weights(fresh));
        }
    }

    @Test
    void aCheckpointOfAnotherModelOrOptimizerIsRefusedClearly(@TempDir Path dir) throws Exception {
        ArrayDataset data = TrainingLoopTest.blobs(64, 3);
        Path file = dir.resolve("c.safetensors");
        try (Sequential m = sequential(1)) {
            m.fit(data, options(1).callbacks(new ModelCheckpoint(file)));
        }
        try (Sequential adamModel = new Sequential(new Dense(16, "relu"), new Dropout(0.25), new Dense(3, "softmax"))) {
            adamModel.compile(new Adam(0.01), "sparse_categorical_crossentropy");
            SomaException e = assertThrows(SomaException.class, () -> adamModel.fit(data, options(2).resumeFrom(file)));
            assertTrue(e.getMessage().contains("'sgd'") && e.getMessage().contains("'adam'"), e.getMessage());
        }
        try (Sequential other = new Sequential(new Dense(16, "relu"), new Dense(3, "softmax"))) {
            other.compile(new SGD(0.05, 0.9, true), "sparse_categorical_crossentropy");
            SomaException e = assertThrows(SomaException.class, () -> other.fit(data, options(2).resumeFrom(file)));
            assertTrue(e.getMessage().contains("[dense, dropout, dense]"), e.getMessage());
        }
        try (Sequential m = sequential(1)) {
            UncheckedIOException e = assertThrows(UncheckedIOException.class,
                    () -> m.fit(data, options(2).resumeFrom(dir.resolve("absent.safetensors"))));
            assertTrue(e.getMessage().contains("absent.safetensors"), e.getMessage());
        }
    }

    @Test
    void aLambdaScheduleCannotBeSavedAndTheLoadedOptimizerSaysSo(@TempDir Path dir) throws Exception {
        ArrayDataset data = TrainingLoopTest.blobs(64, 3);
        Path file = dir.resolve("l.safetensors");
        try (Sequential m = new Sequential(new Dense(3, "softmax"))) {
            Adam a = new Adam(0.01);
            a.schedule(step -> 0.01 / (1 + step));
            m.compile(a, "sparse_categorical_crossentropy");
            m.fit(data, options(1));
            m.save(file);
        }
        try (Model loaded = Checkpoint.loadModel(file)) {
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> loaded.fit(data, options(2)));
            assertTrue(e.getMessage().contains("schedule(...)"), e.getMessage());
            loaded.optimizer().schedule(step -> 0.01 / (1 + step));
            assertTrue(Double.isFinite(loaded.fit(data, options(2)).last("loss")));
        }
    }

    @Test
    void saveBestOnlyKeepsTheBestOfTheWholeRunAcrossAResume(@TempDir Path dir) throws Exception {
        ArrayDataset data = TrainingLoopTest.blobs(64, 3);
        Path file = dir.resolve("best.safetensors");
        try (Sequential m = sequential(1)) {
            m.build(4);
            // As if restored: one epoch done whose loss no later epoch can beat.
            m.history.record(java.util.Map.of("loss", 1e-12));
            m.completedEpochs = 1;
            History h = m.fit(data, new FitOptions().batchSize(16).epochs(2).initialEpoch(1).verbose(0)
                    .callbacks(new ModelCheckpoint(file, "loss", true)));
            assertEquals(2, h.epochs(), "the history continues");
            assertFalse(Files.exists(file), "the resumed epoch is worse than the run's best: nothing written");
            m.fit(data, new FitOptions().batchSize(16).epochs(1).verbose(0).callbacks(new ModelCheckpoint(file, "loss", true)));
            assertTrue(Files.exists(file), "a fresh fit starts its own best");
        }
    }

    /**
     * EarlyStopping whose first epoch is its best (minDelta so large nothing improves on it), patience 3: the straight
     * run stops after epoch 4 and goes back to epoch 1's weights. Interrupted after epoch 1 (best = last epoch) or 2
     * (best weights only in the checkpoint), in either callback order, the resumed run must do the same.
     */
    @Test
    void aResumedEarlyStoppingKeepsItsBestValueWaitAndBestWeights(@TempDir Path dir) throws Exception {
        ArrayDataset data = TrainingLoopTest.blobs(120, 3);
        List<float[]> epochOneWeights;
        try (Sequential m = sequential(1)) {
            m.fit(data, options(1));
            epochOneWeights = weights(m);
        }
        History straight;
        List<float[]> straightWeights;
        EarlyStopping straightStop = new EarlyStopping("loss", 3, 1e6, true);
        try (Sequential m = sequential(1)) {
            straight = m.fit(data, options(10).callbacks(straightStop));
            straightWeights = weights(m);
        }
        assertEquals(4, straight.epochs(), "the straight run stops after epoch 4");
        assertEquals(3, straightStop.stoppedEpoch());
        assertSameWeights(epochOneWeights, straightWeights);

        for (int interruptedAfter : new int[] {1, 2}) {
            for (boolean checkpointFirst : new boolean[] {true, false}) {
                String what = "interrupted after " + interruptedAfter + (checkpointFirst ? ", checkpoint first" : ", early stopping first");
                Path file = dir.resolve("es-" + interruptedAfter + "-" + checkpointFirst + ".safetensors");
                try (Sequential m = sequential(1)) {
                    EarlyStopping es = new EarlyStopping("loss", 3, 1e6, true);
                    ModelCheckpoint mc = new ModelCheckpoint(file);
                    m.fit(data, options(interruptedAfter).callbacks(checkpointFirst ? new Callback[] {mc, es} : new Callback[] {es, mc}));
                }
                EarlyStopping resumedStop = new EarlyStopping("loss", 3, 1e6, true);
                try (Sequential fresh = sequential(2)) {
                    History h = fresh.fit(data, options(10).resumeFrom(file).callbacks(resumedStop));
                    assertEquals(straight.all(), h.all(), what);
                    assertEquals(3, resumedStop.stoppedEpoch(), what);
                    assertEquals(0, resumedStop.bestEpoch(), what);
                    assertSameWeights(straightWeights, weights(fresh));
                }
            }
        }
    }
}
