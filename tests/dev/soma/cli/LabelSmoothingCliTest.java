package dev.soma.cli;

import dev.soma.model.Checkpoint;
import dev.soma.model.Model;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.*;

/**
 * {@code soma train --label-smoothing} for the image classifiers: bad values refused before data loads; a run trains
 * with it, and its checkpoint keeps the smoothed loss, so {@code evaluate} reports the loss training reported.
 */
@ExtendWith(NoLeaks.class)
class LabelSmoothingCliTest {
    private static final Pattern TEST_LOSS = Pattern.compile("test_loss=([0-9.]+)");

    @Test
    void refusesBadValuesBeforeLoadingData(@TempDir Path root) throws Exception {
        CliRun.refusedBeforeData(root, "cnn", "--label-smoothing must be in [0, 1), got 1.0", "--label-smoothing", "1");
        CliRun.refusedBeforeData(root, "mlp", "--label-smoothing must be in [0, 1), got -0.1", "--label-smoothing", "-0.1");
        CliRun.refusedBeforeData(root, "lstm", "--label-smoothing is wired into gan and the image classifiers",
                "--label-smoothing", "0.1");
    }

    @Test
    void aRunTrainsWithItAndItsCheckpointKeepsIt(@TempDir Path dir) throws Exception {
        Path data = TrainResumeCliTest.dataset(dir);
        Path run = dir.resolve("run");
        CliRun r = CliRun.of("train", "mlp", "--dataset", data.toString(), "--epochs", "2", "--batch-size", "16",
                "--quiet", "--out", run.toString(), "--label-smoothing", "0.2");
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.out().contains("label smoothing 0.2"), r.out());
        Path checkpoint = run.resolve("model.safetensors");
        try (Model m = Checkpoint.loadModel(checkpoint)) {
            assertEquals(Map.of("label_smoothing", 0.2), m.loss().config());
        }
        CliRun e = CliRun.of("evaluate", "--checkpoint", checkpoint.toString(), "--dataset", data.toString());
        assertEquals(0, e.exit(), e.err());
        assertEquals(testLoss(r.out()), testLoss(e.out()), 1e-4, r.out() + "\n" + e.out());
    }

    private static double testLoss(String out) {
        Matcher m = TEST_LOSS.matcher(out);
        assertTrue(m.find(), out);
        return Double.parseDouble(m.group(1));
    }
}
