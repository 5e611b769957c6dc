package dev.soma.cli;

import dev.soma.data.Idx;
import dev.soma.model.Checkpoint;
import dev.soma.model.Sequential;
import dev.soma.nn.Param;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/** {@code soma train ... --resume}: two epochs, then a resumed third, equal the three-epoch run bit for bit. */
@ExtendWith(NoLeaks.class)
class TrainResumeCliTest {
    /** A tiny MNIST-format folder: 8x8 images whose brightest quadrant is the label (0..3). */
    static Path dataset(Path dir) throws Exception {
        Path data = Files.createDirectories(dir.resolve("quadrants"));
        write(data, "train", 96, 1);
        write(data, "t10k", 16, 2);
        return data;
    }

    private static void write(Path dir, String part, int n, long seed) throws Exception {
        SplittableRandom r = new SplittableRandom(seed);
        byte[] px = new byte[n * 64];
        byte[] labels = new byte[n];
        for (int i = 0; i < n; i++) {
            int label = r.nextInt(4);
            labels[i] = (byte) label;
            for (int y = 0; y < 8; y++) {
                for (int x = 0; x < 8; x++) {
                    int q = (y / 4) * 2 + x / 4;
                    px[i * 64 + y * 8 + x] = (byte) (r.nextInt(60) + (q == label ? 150 : 0));
                }
            }
        }
        Idx.writeUbyte(dir.resolve(part + "-images-idx3-ubyte"), new int[] {n, 8, 8}, px);
        Idx.writeUbyte(dir.resolve(part + "-labels-idx1-ubyte"), new int[] {n}, labels);
    }

    private static CliRun train(Path data, Path out, int epochs, String... more) {
        String[] base = {"train", "mlp", "--dataset", data.toString(), "--epochs", Integer.toString(epochs),
                "--batch-size", "16", "--lr-schedule", "constant", "--quiet", "--out", out.toString()};
        String[] args = java.util.Arrays.copyOf(base, base.length + more.length);
        System.arraycopy(more, 0, args, base.length, more.length);
        return CliRun.of(args);
    }

    @Test
    void aResumedRunEqualsTheUninterruptedOne(@TempDir Path dir) throws Exception {
        Path data = dataset(dir);
        CliRun straight = train(data, dir.resolve("straight"), 3);
        assertEquals(0, straight.exit(), straight.err());
        CliRun first = train(data, dir.resolve("resumed"), 2);
        assertEquals(0, first.exit(), first.err());
        CliRun resumed = train(data, dir.resolve("resumed"), 3, "--resume");
        assertEquals(0, resumed.exit(), resumed.err());

        assertEquals(Files.readString(dir.resolve("straight/history.csv")), Files.readString(dir.resolve("resumed/history.csv")));
        try (Sequential a = Checkpoint.load(dir.resolve("straight/model.safetensors"));
             Sequential b = Checkpoint.load(dir.resolve("resumed/model.safetensors"))) {
            assertEquals(3, b.completedEpochs());
            for (int i = 0; i < a.params().size(); i++) {
                Param p = a.params().get(i);
                assertArrayEquals(p.value().toFloatArray(), b.params().get(i).value().toFloatArray(), p.name());
            }
            assertEquals(a.optimizer().iterations(), b.optimizer().iterations());
        }
        assertEquals(lastLine(straight.out()), lastLine(resumed.out()), "the same test result");
    }

    private static String lastLine(String s) {
        String[] lines = s.strip().split("\n");
        return lines[lines.length - 1];
    }

    @Test
    void resumeWithoutACheckpointIsOneLineBeforeAnyDataIsLoaded(@TempDir Path dir) throws java.io.IOException {
        // an existing but empty data folder: loading it would fail, so the refusal must come first
        CliRun r = train(java.nio.file.Files.createDirectories(dir.resolve("empty-data")), dir.resolve("empty"), 3, "--resume");
        assertEquals(1, r.exit());
        String err = r.err().strip();
        assertEquals(1, err.lines().count(), err);
        assertTrue(err.contains("--resume: no checkpoint to resume from") && err.contains("model.safetensors"), err);
        CliRun gan = CliRun.of("train", "gan", "--resume", "--epochs", "1", "--out", dir.resolve("no-gan").toString());
        assertEquals(1, gan.exit());
        assertEquals(1, gan.err().strip().lines().count(), gan.err());
        assertTrue(gan.err().contains("--resume: no GAN training state to resume from")
                && gan.err().contains("gan-training.safetensors"), gan.err());
    }
}
