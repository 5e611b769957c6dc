package dev.soma.cli;

import dev.soma.testing.UsableGpu;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.*;

/**
 * {@code bench fit-step} and {@code bench serve-load} with {@code --device cuda:0}: the fit loop and the Predictor run
 * on the device (the emulated one in CI) and print their figures. Short runs: they prove the path, not the speed.
 */
@Tag("gpu")
class CudaLoadBenchCliTest {
    private static void gpu() {
        UsableGpu.required();
    }

    @Test
    void fitStepRunsOnTheDevice(@TempDir Path dir) throws Exception {
        gpu();
        Path data = LoadBenchCliTest.digits(dir, 24);
        CliRun run = CliRun.of("bench", "fit-step", "--model", "mlp", "--batch", "4", "--warmup", "1", "--steps", "3",
                "--rounds", "1", "--max-rounds", "60", "--data", data.toString(), "--device", "cuda:0");
        // A round counts only when the JIT compiled for at most 1 % of it; either way both sides ran on the device.
        assertTrue(run.out().contains("device=cuda:0"), run.out() + run.err());
        assertTrue(run.out().contains("round 1") && run.out().contains("train-step median_ms="), run.out() + run.err());
        Matcher m = Pattern.compile("ratio=([0-9.]+|nan)").matcher(run.out());
        assertTrue(m.find(), run.out() + run.err());
    }

    @Test
    void serveLoadRunsOnTheDevice() {
        gpu();
        CliRun run = CliRun.of("bench", "serve-load", "--model", "mlp", "--callers", "2", "--seconds", "0.3",
                "--busy", "0", "--device", "cuda:0");
        assertEquals(0, run.exit(), run.err());
        assertTrue(run.out().contains("device=cuda:0") && run.out().contains("busy=0 requests_per_s="), run.out());
        Matcher m = Pattern.compile("requests_per_s=([0-9]+)").matcher(run.out());
        assertTrue(m.find() && Long.parseLong(m.group(1)) > 0, run.out());
    }
}
