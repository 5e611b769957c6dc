package dev.soma.cli;

import dev.soma.data.Idx;
import dev.soma.model.Sequential;
import dev.soma.nn.Conv2D;
import dev.soma.nn.Dense;
import dev.soma.nn.Flatten;
import dev.soma.optim.Adam;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/**
 * {@code soma attack} and {@code soma robustness} on a small compiled CNN (random weights) and a tiny MNIST-format
 * folder; {@code soma train --adv} on it. Bad options fail with one line before the data is read.
 */
@ExtendWith(NoLeaks.class)
class AttackCliTest {
    static Path setUp(Path dir) throws IOException {
        Path data = dir.resolve("digits");
        Files.createDirectories(data);
        SplittableRandom r = new SplittableRandom(1);
        int n = 8;
        byte[] px = new byte[n * 28 * 28];
        for (int i = 0; i < px.length; i++) px[i] = (byte) r.nextInt(256);
        byte[] labels = new byte[n];
        for (int i = 0; i < n; i++) labels[i] = (byte) (i % 10);
        for (String split : new String[] {"train", "t10k"}) {
            Idx.writeUbyte(data.resolve(split + "-images-idx3-ubyte"), new int[] {n, 28, 28}, px);
            Idx.writeUbyte(data.resolve(split + "-labels-idx1-ubyte"), new int[] {n}, labels);
        }
        Path run = dir.resolve("run");
        Files.createDirectories(run);
        try (Sequential m = new Sequential(new Conv2D(4, 3, "relu"), new Flatten(), new Dense(10, "softmax"))) {
            m.seed(3);
            m.build(28, 28, 1);
            m.compile(new Adam(0.001), "sparse_categorical_crossentropy", "accuracy");
            m.save(run.resolve("model.safetensors"));
        }
        return data;
    }

    @Test
    void attackPrintsAccuraciesAndWritesThreeRowsOfImages(@TempDir Path dir) throws IOException {
        Path data = setUp(dir);
        for (String norm : new String[] {"linf", "l2"}) {
            Path png = dir.resolve(norm + ".png");
            CliRun r = CliRun.of("attack", "--checkpoint", dir.resolve("run").toString(), "--dataset", data.toString(),
                    "--epsilon", norm.equals("linf") ? "0.1" : "1.5", "--steps", "3", "--norm", norm, "--show", "4",
                    "--out", png.toString());
            assertEquals(0, r.exit(), r.err());
            assertTrue(r.out().contains("clean_accuracy=") && r.out().contains("robust_accuracy="), r.out());
            BufferedImage img = ImageIO.read(png.toFile());
            assertEquals(4 * (28 * 3 + 2) + 2, img.getWidth());
            assertEquals(3 * (28 * 3 + 2) + 2, img.getHeight());
        }
    }

    @Test
    void robustnessWritesBothCurves(@TempDir Path dir) throws IOException {
        Path data = setUp(dir);
        CliRun r = CliRun.of("robustness", "--checkpoint", dir.resolve("run").toString(), "--dataset", data.toString(),
                "--steps", "2", "--sigmas", "0,0.3", "--epsilons", "0,0.1");
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.out().contains("noise sigma=0.300") && r.out().contains("eps=0.1"), r.out());
        assertEquals(2 * 560, ImageIO.read(dir.resolve("run").resolve("robustness.png").toFile()).getWidth());
    }

    @Test
    void trainWithAdversarialExamples(@TempDir Path dir) throws IOException {
        Path data = setUp(dir);
        CliRun r = CliRun.of("train", "mlp", "--dataset", data.toString(), "--epochs", "1",
                "--validation-split", "0", "--quiet", "--adv", "fgsm", "--adv-epsilon", "0.1",
                "--out", dir.resolve("adv").toString());
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.out().contains("adversarial training fgsm eps 0.1"), r.out());
    }

    @Test
    void evaluateAndPredictTakeTheRunFolderAsTheCheckpointItHolds(@TempDir Path dir) throws IOException {
        String data = setUp(dir).toString();
        Path run = dir.resolve("run");
        for (String[] command : new String[][] {{"evaluate"}, {"predict", "--count", "3"}}) {
            String[] viaFile = java.util.stream.Stream.concat(java.util.Arrays.stream(command), java.util.stream.Stream.of(
                    "--dataset", data, "--checkpoint", run.resolve("model.safetensors").toString())).toArray(String[]::new);
            String[] viaFolder = viaFile.clone();
            viaFolder[viaFolder.length - 1] = run.toString();
            CliRun a = CliRun.of(viaFile), b = CliRun.of(viaFolder);
            assertEquals(0, b.exit(), b.err());
            assertFalse(b.out().isBlank());
            assertEquals(a.out(), b.out());
        }
    }

    @Test
    void badOptionsFailWithOneLine(@TempDir Path dir) throws IOException {
        Path data = setUp(dir);
        String run = dir.resolve("run").toString();
        String[][] cases = {
                {"attack", "--checkpoint", run, "--epsilon", "-1"},
                {"attack", "--checkpoint", run, "--norm", "l1"},
                {"attack", "--checkpoint", run, "--steps", "0"},
                {"attack", "--checkpoint", run, "--steps", "1", "--step-size", "-1"}, // FGSM ignores it; still a typo
                {"attack", "--checkpoint", run, "--limit", "0"},
                {"robustness", "--checkpoint", run, "--sigmas", "-0.1"},
                {"train", "mlp", "--adv", "cw"},
                {"train", "mlp", "--adv", "fgsm", "--noise-sigma", "0.1"},
                {"train", "gan", "--adv", "fgsm"},
                {"train", "mlp", "--adv", "fgsm", "--dp-noise", "1", "--dp-clip", "1"},
        };
        String[] expected = {"--epsilon must be a finite number > 0", "norm must be linf or l2", "--steps must be >= 1",
                "--step-size must be a finite number >= 0", "--limit must be >= 1", "sigma must be finite and >= 0", "--adv must be fgsm or pgd",
                "either --adv or --noise-sigma", "image classifiers only",
                "cannot be combined with DP-SGD"};
        for (int i = 0; i < cases.length; i++) {
            String[] args = java.util.Arrays.copyOf(cases[i], cases[i].length + 2);
            args[args.length - 2] = "--dataset";
            // attack and robustness refuse before the data is looked for; train checks its --dataset first.
            args[args.length - 1] = (cases[i][0].equals("train") ? data : dir.resolve("absent")).toString();
            CliRun r = CliRun.of(args);
            assertNotEquals(0, r.exit(), String.join(" ", cases[i]));
            assertTrue(r.err().contains(expected[i]), String.join(" ", cases[i]) + " -> " + r.err());
        }
    }
}
