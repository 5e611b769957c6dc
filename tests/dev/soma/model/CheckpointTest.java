package dev.soma.model;

import dev.soma.errors.SomaException;
import dev.soma.nn.BatchNormalization;
import dev.soma.nn.Dense;
import dev.soma.nn.Dropout;
import dev.soma.optim.Adam;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

@ExtendWith(NoLeaks.class)
class CheckpointTest {
    private static Sequential model() {
        Sequential m = new Sequential(new Dense(16, "relu"), new BatchNormalization(), new Dropout(0.25),
                new Dense(3, "softmax"));
        m.seed(9).compile(new Adam(0.01), "sparse_categorical_crossentropy", "accuracy");
        return m;
    }

    private static FitOptions options(int epochs) {
        return new FitOptions().batchSize(16).epochs(epochs).seed(4).verbose(0);
    }

    @Test
    void resumingFromACheckpointRepeatsTheUninterruptedRunBitForBit(@TempDir Path dir) throws Exception {
        var data = TrainingLoopTest.blobs(160, 12);
        double uninterrupted;
        try (Sequential m = model()) {
            uninterrupted = m.fit(data, options(3)).last("loss");
        }
        Path file = dir.resolve("run.safetensors");
        try (Sequential m = model()) {
            m.fit(data, options(2));
            Checkpoint.save(m, file);
        }
        try (Sequential resumed = Checkpoint.load(file)) {
            double loss = resumed.fit(data, options(3).initialEpoch(2)).last("loss");
            assertEquals(uninterrupted, loss, 0.0, "bit-for-bit equal loss after resuming");
        }
    }

    @Test
    void loadedModelsPredictLikeTheSavedOne(@TempDir Path dir) throws Exception {
        var data = TrainingLoopTest.blobs(64, 13);
        Path file = dir.resolve("m.safetensors");
        float[] before;
        try (Sequential m = model()) {
            m.fit(data, options(1));
            try (var p = m.predict(data, 64)) {
                before = p.toFloatArray();
            }
            m.save(file);
        }
        try (Sequential m = Checkpoint.load(file); var p = m.predict(data, 64)) {
            assertArrayEquals(before, p.toFloatArray());
            assertEquals("sparse_categorical_crossentropy", m.loss().name());
        }
    }

    @Test
    void garbageIsRejectedClearly(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("junk.safetensors");
        Files.write(file, new byte[] {1, 2, 3});
        assertThrows(SomaException.class, () -> Checkpoint.load(file));
    }

    /** A loss of the user's own is not stored: the model loads with its weights, uncompiled, as docs/saving.md says. */
    @Test
    void aModelWithACustomLossLoadsUncompiled(@TempDir Path dir) throws Exception {
        Loss halfMse = new Loss() {
            public String name() { return "half_mse"; }
            public dev.soma.tensor.Tensor compute(dev.soma.tensor.Tensor p, dev.soma.tensor.Tensor t) {
                return dev.soma.ops.Losses.meanSquaredError(p, t).mul(0.5);
            }
        };
        var data = TrainingLoopTest.blobs(32, 14);
        Path file = dir.resolve("custom.safetensors");
        float[] before;
        try (Sequential m = new Sequential(new Dense(4, "relu"), new Dense(3))) {
            m.seed(3).compile(new Adam(0.01), halfMse);
            m.build(4);
            try (var p = m.predict(data, 32)) {
                before = p.toFloatArray();
            }
            m.save(file);
        }
        try (Model m = Checkpoint.loadModel(file); var p = m.predict(data, 32)) {
            assertNull(m.loss(), "a custom loss cannot be restored by name");
            assertArrayEquals(before, p.toFloatArray());
        }
    }
}
