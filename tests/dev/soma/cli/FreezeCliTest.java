package dev.soma.cli;

import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/** {@code soma train --freeze}: the named layer is not trained (the summary counts it as non-trainable). */
@ExtendWith(NoLeaks.class)
class FreezeCliTest {
    @Test
    void aFrozenLayerIsNotTrainedAndAnUnknownOneIsRefused(@TempDir Path dir) throws Exception {
        CliRun.refusedBeforeData(java.nio.file.Files.createDirectories(dir.resolve("empty")), "gan", "--freeze is wired into the image classifiers",
                "--freeze", "dense_1");
        Path data = TrainResumeCliTest.dataset(dir);
        CliRun r = CliRun.of("train", "mlp", "--dataset", data.toString(), "--epochs", "1", "--batch-size", "16",
                "--quiet", "--out", dir.resolve("run").toString(), "--dp-noise", "0.5", "--dp-clip", "1.0",
                "--freeze", "dense_1");
        assertEquals(0, r.exit(), r.err());
        // mlp on 8x8 images: dense_1 64 x 128 + 128 frozen, dense_2 128 x 10 + 10 trained
        assertTrue(r.out().contains("Trainable params: 1290"), r.out());
        assertTrue(r.out().contains("Non-trainable params: 8320"), r.out());
        // The checkpoint says which weights were frozen, so it loads with its optimizer state (slots for 1290 only).
        CliRun eval = CliRun.of("evaluate", "--checkpoint", dir.resolve("run/model.safetensors").toString(),
                "--dataset", data.toString());
        assertEquals(0, eval.exit(), eval.err());
        assertTrue(eval.out().contains("test_accuracy="), eval.out());
        CliRun bad = CliRun.of("train", "mlp", "--dataset", data.toString(), "--epochs", "1", "--quiet",
                "--out", dir.resolve("run2").toString(), "--freeze", "dense_9");
        assertEquals(1, bad.exit());
        assertTrue(bad.err().contains("no layer 'dense_9'") && bad.err().contains("dense_1"), bad.err());
    }
}
