package dev.soma.cli;

import dev.soma.model.Checkpoint;
import dev.soma.model.Sequential;
import dev.soma.nn.Dense;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

@ExtendWith(NoLeaks.class)
class GanCliTest {
    private static CliRun run(String... args) {
        return CliRun.of(args);
    }

    @Test
    void sampleDrawsAGridFromASavedGenerator(@TempDir Path dir) throws Exception {
        try (Sequential g = new Sequential(new Dense(16, "leaky_relu"), new Dense(784, "tanh"))) {
            g.seed(3).build(10);
            Checkpoint.save(g, dir.resolve(GanTraining.GENERATOR_FILE));
        }
        CliRun r = run("sample", "--checkpoint", dir.toString(), "--count", "6", "--columns", "3", "--seed", "2");
        assertEquals(0, r.exit(), r.err());
        BufferedImage img = ImageIO.read(dir.resolve("samples.png").toFile());
        // 3 columns x 2 rows of 28x28 tiles drawn at scale 2 with 2-pixel gaps.
        assertEquals(2 + 3 * (56 + 2), img.getWidth());
        assertEquals(2 + 2 * (56 + 2), img.getHeight());
        CliRun bad = run("sample", "--checkpoint", dir.resolve("missing.safetensors").toString());
        assertEquals(1, bad.exit());
    }

    @Test
    void dcganTrainsOnARealSliceAndWritesItsGridAndCheckpoints(@TempDir Path dir) throws Exception {
        CliRun r = run("train", "gan", "--arch", "dcgan", "--limit", "128", "--epochs", "1", "--batch-size", "32",
                "--out", dir.toString());
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.out().contains("training the DCGAN"), r.out());
        assertTrue(r.out().contains("conv2d_transpose"), r.out());
        BufferedImage grid = ImageIO.read(dir.resolve("samples_epoch_001.png").toFile());
        assertNotNull(grid);
        try (Sequential g = Checkpoint.load(dir.resolve(GanTraining.GENERATOR_FILE))) {
            assertArrayEquals(new long[] {28, 28, 1}, g.outputShape());
        }
        CliRun bad = run("train", "gan", "--arch", "stylegan", "--out", dir.toString());
        assertEquals(1, bad.exit());
        assertTrue(bad.err().contains("unknown --arch"), bad.err());
    }

    private static CliRun trainGan(Path data, Path out, int epochs, String... more) {
        String[] base = {"train", "gan", "--dataset", data.toString(), "--limit", "48", "--epochs", Integer.toString(epochs),
                "--batch-size", "16", "--out", out.toString()};
        String[] args = java.util.Arrays.copyOf(base, base.length + more.length);
        System.arraycopy(more, 0, args, base.length, more.length);
        return run(args);
    }

    @Test
    void aResumedGanRunEqualsTheUninterruptedOne(@TempDir Path dir) throws Exception {
        Path data = TrainResumeCliTest.dataset(dir);
        CliRun straight = trainGan(data, dir.resolve("straight"), 2);
        assertEquals(0, straight.exit(), straight.err());
        CliRun first = trainGan(data, dir.resolve("resumed"), 1);
        assertEquals(0, first.exit(), first.err());
        CliRun resumed = trainGan(data, dir.resolve("resumed"), 2, "--resume");
        assertEquals(0, resumed.exit(), resumed.err());
        assertTrue(resumed.out().contains("after epoch 1"), resumed.out());
        assertFalse(resumed.out().contains("epoch 1/2"), "the first epoch is not trained again: " + resumed.out());

        for (String file : new String[] {GanTraining.GENERATOR_FILE, GanTraining.DISCRIMINATOR_FILE}) {
            try (Sequential a = Checkpoint.load(dir.resolve("straight").resolve(file));
                 Sequential b = Checkpoint.load(dir.resolve("resumed").resolve(file))) {
                assertEquals(a.params().size(), b.params().size(), file);
                for (int i = 0; i < a.params().size(); i++) {
                    assertArrayEquals(a.params().get(i).value().toFloatArray(), b.params().get(i).value().toFloatArray(),
                            file + " " + a.params().get(i).name());
                }
            }
        }
        // The whole training state (both optimizers, the random stream, epoch and history) is the same file.
        assertArrayEquals(java.nio.file.Files.readAllBytes(dir.resolve("straight").resolve(GanTraining.TRAINING_STATE_FILE)),
                java.nio.file.Files.readAllBytes(dir.resolve("resumed").resolve(GanTraining.TRAINING_STATE_FILE)));
        String last = straight.out().strip().lines().reduce((x, y) -> y).orElse("");
        assertEquals(last, resumed.out().strip().lines().reduce((x, y) -> y).orElse(""), "the same final losses");
    }
}
