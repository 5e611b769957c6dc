package dev.soma.cli;

import dev.soma.data.Idx;
import dev.soma.model.Sequential;
import dev.soma.nn.Conv2D;
import dev.soma.nn.Dense;
import dev.soma.nn.Flatten;
import dev.soma.nn.MaxPooling2D;
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
 * {@code soma explain} on a small saved CNN (random weights) and a tiny MNIST-format folder written by the test:
 * the PNG has one panel per method, IG reports its convergence delta, and bad options fail with one line.
 */
@ExtendWith(NoLeaks.class)
class ExplainCliTest {
    static Path setUp(Path dir) throws IOException {
        Path data = dir.resolve("digits");
        Files.createDirectories(data);
        SplittableRandom r = new SplittableRandom(1);
        byte[] px = new byte[3 * 28 * 28];
        for (int i = 0; i < px.length; i++) px[i] = (byte) r.nextInt(256);
        for (String split : new String[] {"train", "t10k"}) {
            Idx.writeUbyte(data.resolve(split + "-images-idx3-ubyte"), new int[] {3, 28, 28}, px);
            Idx.writeUbyte(data.resolve(split + "-labels-idx1-ubyte"), new int[] {3}, new byte[] {7, 2, 1});
        }
        Path run = dir.resolve("run");
        Files.createDirectories(run);
        try (Sequential m = new Sequential(new Conv2D(4, 3, "relu"), new MaxPooling2D(2), new Flatten(), new Dense(10, "softmax"))) {
            m.seed(3);
            m.build(28, 28, 1);
            m.save(run.resolve("model.safetensors"));
        }
        return data;
    }

    @Test
    void writesOnePanelPerMethod(@TempDir Path dir) throws IOException {
        Path data = setUp(dir);
        CliRun r = CliRun.of("explain", "--checkpoint", dir.resolve("run").toString(), "--dataset", data.toString(),
                "--index", "1", "--method", "all", "--steps", "16", "--samples", "4");
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.out().contains("convergence delta"), r.out());
        for (String m : new String[] {"saliency", "gxi", "ig", "smoothgrad", "occlusion"}) assertTrue(r.out().contains(m), r.out());
        Path png = dir.resolve("run").resolve("explain-1.png");
        BufferedImage img = ImageIO.read(png.toFile());
        assertEquals(6 * (28 * 6 + 4) + 4, img.getWidth()); // the input and five maps
        CliRun one = CliRun.of("explain", "--checkpoint", dir.resolve("run").toString(), "--dataset", data.toString(),
                "--method", "saliency", "--target", "4", "--out", dir.resolve("s.png").toString());
        assertEquals(0, one.exit(), one.err());
        assertEquals(2 * (28 * 6 + 4) + 4, ImageIO.read(dir.resolve("s.png").toFile()).getWidth());
    }

    @Test
    void badOptionsFailWithOneLine(@TempDir Path dir) throws IOException {
        Path data = setUp(dir);
        String run = dir.resolve("run").toString();
        String[][] cases = {
                {"--method", "lime"},
                {"--index", "3"},
                {"--target", "10"},
                {"--rule", "simpson"},
                {"--baseline", "noise"},
                {"--steps", "0"},
                {"--output", "softmax"},
        };
        String[] expected = {"unknown attribution method 'lime'", "--index 3 is outside the 3 test images",
                "output index 10 is outside the model's 10 output units", "unknown integration rule 'simpson'",
                "--baseline must be zeros, blur or uniform", "steps must be >= 1", "--output must be logit or probability"};
        for (int i = 0; i < cases.length; i++) {
            String[] args = concat(new String[] {"explain", "--checkpoint", run, "--dataset", data.toString()},
                    cases[i][0].equals("--method") ? cases[i] : concat(new String[] {"--method", "ig"}, cases[i]));
            CliRun r = CliRun.of(args);
            assertEquals(1, r.exit(), String.join(" ", cases[i]) + ": " + r.out() + r.err());
            assertTrue(r.err().startsWith("soma explain: ") && r.err().contains(expected[i]), r.err());
            assertEquals(1, r.err().strip().lines().count(), r.err());
        }
        CliRun missing = CliRun.of("explain", "--checkpoint", dir.resolve("nothing").toString());
        assertEquals(1, missing.exit());
        assertTrue(missing.err().startsWith("soma explain: --checkpoint ") && missing.err().contains("no such file"), missing.err());
    }

    private static String[] concat(String[] a, String[] b) {
        String[] out = new String[a.length + b.length];
        System.arraycopy(a, 0, out, 0, a.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }
}
