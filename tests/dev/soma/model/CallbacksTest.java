package dev.soma.model;

import dev.soma.nn.Dense;
import dev.soma.optim.SGD;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** LearningRateScheduler, CsvLogger and ModelCheckpoint inside a real fit. */
@ExtendWith(NoLeaks.class)
class CallbacksTest {
    @Test
    void schedulerSetsTheRateEachEpochAndTheLoggerWritesOneRowPerEpoch(@TempDir Path dir) throws Exception {
        Path csv = dir.resolve("log/history.csv");
        List<Double> seen = new ArrayList<>();
        try (Sequential m = new Sequential(new Dense(3, "softmax"))) {
            m.compile(new SGD(0.5), "sparse_categorical_crossentropy", "accuracy");
            Callback probe = new Callback() {
                @Override
                public void onEpochBegin(Model model, int epoch) {
                    seen.add(model.optimizer().currentLearningRate());
                }
            };
            History h = m.fit(TrainingLoopTest.blobs(64, 1), new FitOptions().epochs(3).verbose(0).callbacks(
                    new LearningRateScheduler((epoch, lr) -> 0.1 / (epoch + 1)), probe, new CsvLogger(csv)));
            assertEquals(List.of(0.1, 0.05, 0.1 / 3), seen, "the scheduler ran before the probe each epoch");
            List<String> lines = Files.readAllLines(csv);
            assertEquals("epoch,loss,accuracy", lines.get(0));
            assertEquals(4, lines.size());
            assertTrue(lines.get(1).startsWith("1,") && lines.get(3).startsWith("3,"), "epochs as the console numbers them: " + lines);
            assertEquals(h.get("loss").get(2), Double.parseDouble(lines.get(3).split(",")[1]), 0.0);
        }
    }

    @Test
    void checkpointKeepsTheBestEpochOnly(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("best.safetensors");
        ModelCheckpoint best = new ModelCheckpoint(file, "val_loss", true);
        try (Sequential m = new Sequential(new Dense(3, "softmax"))) {
            m.compile(new SGD(0.5), "sparse_categorical_crossentropy");
            best.onTrainBegin(m);
            m.build(4);
            best.onEpochEnd(m, 0, Map.of("val_loss", 0.5));
            assertTrue(Files.exists(file));
            long first = Files.getLastModifiedTime(file).toMillis();
            Files.setLastModifiedTime(file, java.nio.file.attribute.FileTime.fromMillis(first - 10_000));
            best.onEpochEnd(m, 1, Map.of("val_loss", 0.7));
            assertEquals(first - 10_000, Files.getLastModifiedTime(file).toMillis(), "a worse epoch is not saved");
            best.onEpochEnd(m, 2, Map.of("val_loss", 0.4));
            assertTrue(Files.getLastModifiedTime(file).toMillis() > first - 10_000, "a better epoch replaces it");
            assertThrows(IllegalArgumentException.class, () -> best.onEpochEnd(m, 3, Map.of("loss", 0.1)));
        }
        try (Sequential loaded = Checkpoint.load(file)) {
            assertEquals(1, loaded.layers().size());
        }
    }
}
