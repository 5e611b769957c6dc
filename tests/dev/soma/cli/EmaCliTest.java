package dev.soma.cli;

import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/** {@code soma train --ema}: bad values refused before data loads; a private run with it trains and says so. */
@ExtendWith(NoLeaks.class)
class EmaCliTest {
    @Test
    void refusesBadEmaBeforeLoadingData(@TempDir Path root) throws Exception {
        CliRun.refusedBeforeData(root, "cnn", "--ema must be a decay in [0, 1), got 1.0", "--ema", "1");
        CliRun.refusedBeforeData(root, "cnn", "--ema must be a decay in [0, 1), got -0.1", "--ema", "-0.1");
        CliRun.refusedBeforeData(root, "gan", "--ema is wired into the image classifiers", "--ema", "0.9");
        CliRun.refusedBeforeData(root, "cnn", "--ema cannot be combined with --resume", "--ema", "0.9", "--resume");
    }

    @Test
    void aPrivateRunWithEmaTrains(@TempDir Path dir) throws Exception {
        Path data = TrainResumeCliTest.dataset(dir);
        CliRun r = CliRun.of("train", "mlp", "--dataset", data.toString(), "--epochs", "2", "--batch-size", "16",
                "--quiet", "--out", dir.resolve("run").toString(), "--dp-noise", "0.5", "--dp-clip", "1.0", "--ema", "0.9");
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.out().contains("weight average (EMA) decay 0.9"), r.out());
        assertTrue(r.out().contains("test_accuracy=") && r.out().contains("epsilon="), r.out());
        assertTrue(r.out().contains("last iterate (without the weight average): accuracy="), r.out());
    }
}
