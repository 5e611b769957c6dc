package dev.soma.cli;

import dev.soma.data.Idx;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.*;

/** {@code bench fit-step} and {@code bench serve-load}: short runs print their figures; bad options fail clearly. */
@ExtendWith(NoLeaks.class)
class LoadBenchCliTest {
    /** n random 28x28 "digits" with labels i % 10, as MNIST's training files in dir/digits. */
    static Path digits(Path dir, int n) throws Exception {
        Path data = dir.resolve("digits");
        Files.createDirectories(data);
        SplittableRandom r = new SplittableRandom(2);
        byte[] px = new byte[n * 28 * 28];
        for (int i = 0; i < px.length; i++) px[i] = (byte) r.nextInt(256);
        byte[] labels = new byte[n];
        for (int i = 0; i < n; i++) labels[i] = (byte) (i % 10);
        Idx.writeUbyte(data.resolve("train-images-idx3-ubyte"), new int[] {n, 28, 28}, px);
        Idx.writeUbyte(data.resolve("train-labels-idx1-ubyte"), new int[] {n}, labels);
        return data;
    }

    @Test
    void fitStepComparesFitWithBareSteps(@TempDir Path dir) throws Exception {
        Path data = digits(dir, 40);
        CliRun run = CliRun.of("bench", "fit-step", "--model", "mlp", "--batch", "4", "--warmup", "2", "--steps", "6",
                "--rounds", "1", "--max-rounds", "400", "--data", data.toString());
        // Rounds this small take milliseconds: within 400 of them one runs with the JIT compiling at most 1 % of it.
        assertEquals(0, run.exit(), run.out() + run.err());
        assertTrue(run.out().contains("round 1") && run.out().contains("train-step median_ms="), run.out());
        assertTrue(run.out().contains("worst of 1 rounds with the JIT at most 1 % of the time"), run.out());
        Matcher m = Pattern.compile("ratio=([0-9.]+)").matcher(run.out());
        assertTrue(m.find(), run.out());
        assertTrue(Double.parseDouble(m.group(1)) > 0);
    }

    @Test
    void fitStepRefusesTooLittleDataAndMissingFolders(@TempDir Path dir) throws Exception {
        Path data = digits(dir, 12);
        CliRun small = CliRun.of("bench", "fit-step", "--model", "mlp", "--batch", "4", "--warmup", "2", "--steps", "6",
                "--data", data.toString());
        assertNotEquals(0, small.exit());
        assertTrue(small.err().contains("36 examples needed, MNIST has 12"), small.err());
        CliRun missing = CliRun.of("bench", "fit-step", "--data", dir.resolve("nope").toString());
        assertNotEquals(0, missing.exit());
        assertTrue(missing.err().contains("bin/soma fetch mnist"), missing.err());
        CliRun model = CliRun.of("bench", "fit-step", "--model", "lstm", "--data", data.toString());
        assertTrue(model.err().contains("expected cnn or mlp"), model.err());
        CliRun rounds = CliRun.of("bench", "fit-step", "--rounds", "3", "--max-rounds", "2", "--data", data.toString());
        assertNotEquals(0, rounds.exit());
        assertTrue(rounds.err().contains("max-rounds >= rounds") && rounds.err().contains("max-rounds 2"), rounds.err());
    }

    @Test
    void serveLoadReportsQuietAndLoadedRuns() {
        CliRun run = CliRun.of("bench", "serve-load", "--model", "mlp", "--callers", "2", "--seconds", "0.3",
                "--busy", "0,1");
        assertEquals(0, run.exit(), run.err());
        assertTrue(run.out().contains("busy=0 requests_per_s="), run.out());
        assertTrue(run.out().contains("busy=1 requests_per_s=") && run.out().contains("loaded/quiet="), run.out());
        CliRun bad = CliRun.of("bench", "serve-load", "--busy", "-1");
        assertNotEquals(0, bad.exit());
        assertTrue(bad.err().contains("busy threads must be >= 0"), bad.err());
    }
}
