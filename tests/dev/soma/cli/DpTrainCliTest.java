package dev.soma.cli;

import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/** {@code soma train --dp-noise --dp-clip}: bad values refused before data loads; a tiny private run ends with epsilon=. */
@ExtendWith(NoLeaks.class)
class DpTrainCliTest {
    private static void refused(Path emptyRoot, String part, String... args) throws Exception {
        CliRun.refusedBeforeData(emptyRoot, "cnn", part, args);
    }

    @Test
    void refusesBadPrivacyOptionsBeforeLoadingData(@TempDir Path root) throws Exception {
        refused(root, "--dp-clip", "--dp-noise", "1.1");
        refused(root, "--dp-noise", "--dp-clip", "1.0");
        refused(root, "noiseMultiplier", "--dp-noise", "-1", "--dp-clip", "1");
        refused(root, "maxGradNorm", "--dp-noise", "1", "--dp-clip", "0");
        refused(root, "delta", "--dp-noise", "1", "--dp-clip", "1", "--dp-delta", "2");
    }

    @Test
    void aPrivateRunReportsEpsilonLast(@TempDir Path dir) throws Exception {
        Path data = TrainResumeCliTest.dataset(dir);
        CliRun r = CliRun.of("train", "mlp", "--dataset", data.toString(), "--epochs", "2", "--batch-size", "16",
                "--lr-schedule", "constant", "--quiet", "--out", dir.resolve("run").toString(),
                "--dp-noise", "1.1", "--dp-clip", "1.0", "--dp-delta", "1e-5");
        assertEquals(0, r.exit(), r.err());
        String[] lines = r.out().strip().split("\n");
        String last = lines[lines.length - 1];
        assertTrue(last.startsWith("epsilon="), r.out());
        double eps = Double.parseDouble(last.substring("epsilon=".length()));
        assertTrue(eps > 0 && Double.isFinite(eps), last);
        assertTrue(Files.readString(dir.resolve("run/history.csv")).contains("epsilon"), "epsilon in history.csv");
    }

    @Test
    void theCosineScheduleEndsOnAPrivateRunsLastStep(@TempDir Path dir) throws Exception {
        // 96 images, 5 % held out: N = 91; batch 17 gives round(91 / 17) = 5 Poisson steps per epoch, not ceil = 6
        Path data = TrainResumeCliTest.dataset(dir);
        Path run = dir.resolve("run");
        CliRun r = CliRun.of("train", "mlp", "--dataset", data.toString(), "--epochs", "2", "--batch-size", "17",
                "--learning-rate", "0.01", "--quiet", "--out", run.toString(), "--dp-noise", "1.1", "--dp-clip", "1.0");
        assertEquals(0, r.exit(), r.err());
        com.google.gson.JsonObject optimizer = OptimizerCliTest.savedOptimizer(run.resolve("model.safetensors"));
        assertEquals(10, optimizer.get("iterations").getAsLong(), optimizer.toString());
        assertEquals(0.0, optimizer.getAsJsonObject("config").get("learning_rate").getAsDouble(), 1e-12,
                "the cosine schedule had not reached its end at the last step: " + optimizer);
    }
}
