package dev.soma.cli;

import dev.soma.data.ArrayDataset;
import dev.soma.data.ImageFiles;
import dev.soma.model.Sequential;
import dev.soma.nn.Conv2D;
import dev.soma.nn.Dense;
import dev.soma.nn.Flatten;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/** {@code soma predict --image}: the user's own PNG / JPEG files through a checkpoint, with clear errors. */
@ExtendWith(NoLeaks.class)
class PredictImageCliTest {
    @Test
    void classifiesImageFilesAsTheModelDoes(@TempDir Path dir) throws Exception {
        Path checkpoint = dir.resolve("model.safetensors");
        try (Sequential m = new Sequential(new Conv2D(2, 3, "relu"), new Flatten(), new Dense(4, "softmax"))) {
            m.seed(7).build(8, 8, 1);
            m.compile(new dev.soma.optim.Adam(0.01), "sparse_categorical_crossentropy");
            m.save(checkpoint);
            SplittableRandom r = new SplittableRandom(2);
            Path[] files = new Path[3];
            for (int k = 0; k < files.length; k++) {
                BufferedImage img = new BufferedImage(8, 8, BufferedImage.TYPE_BYTE_GRAY);
                for (int y = 0; y < 8; y++) for (int x = 0; x < 8; x++) img.getRaster().setSample(x, y, 0, r.nextInt(256));
                files[k] = dir.resolve("digit" + k + ".png");
                ImageIO.write(img, "png", files[k].toFile());
            }
            CliRun run = CliRun.of("predict", "--checkpoint", checkpoint.toString(), "--image", files[0].toString(),
                    "--image", files[1].toString(), "--image", files[2].toString());
            assertEquals(0, run.exit(), run.err());
            String[] lines = run.out().strip().split("\n");
            assertEquals(4, lines.length, run.out());
            for (int k = 0; k < files.length; k++) {
                // The same pixels, scaled to [0, 1] as in training, through the model in this JVM.
                float[] x = ImageFiles.read(files[k], 8, 8, 1, false, false);
                try (Tensor p = m.predict(ArrayDataset.withLabels(x, new long[] {8, 8, 1}, new int[1]), 1)) {
                    float[] probs = p.toFloatArray();
                    int best = 0;
                    for (int c = 1; c < 4; c++) if (probs[c] > probs[best]) best = c;
                    String[] cols = lines[k + 1].trim().split("\\s+");
                    assertEquals(best, Integer.parseInt(cols[0]), lines[k + 1]);
                    assertEquals(probs[best], Double.parseDouble(cols[1]), 1e-4, lines[k + 1]);
                    assertEquals(files[k].toString(), cols[2]);
                }
            }
            // The run folder stands for the model.safetensors it holds, as in attack, robustness and explain.
            CliRun viaFolder = CliRun.of("predict", "--checkpoint", dir.toString(), "--image", files[0].toString(),
                    "--image", files[1].toString(), "--image", files[2].toString());
            assertEquals(0, viaFolder.exit(), viaFolder.err());
            assertEquals(run.out(), viaFolder.out());
        }

        BufferedImage big = new BufferedImage(20, 10, BufferedImage.TYPE_INT_RGB);
        Path bigFile = dir.resolve("big.jpg");
        ImageIO.write(big, "jpg", bigFile.toFile());
        CliRun wrongSize = CliRun.of("predict", "--checkpoint", checkpoint.toString(), "--image", bigFile.toString());
        assertEquals(1, wrongSize.exit());
        assertTrue(wrongSize.err().contains("20x10") && wrongSize.err().contains("8x8"), wrongSize.err());
        assertEquals(1, wrongSize.err().strip().split("\n").length, "one line, no stack trace: " + wrongSize.err());
        CliRun resized = CliRun.of("predict", "--checkpoint", checkpoint.toString(), "--image", bigFile.toString(), "--resize");
        assertEquals(0, resized.exit(), resized.err());

        Path notImage = Files.writeString(dir.resolve("x.png"), "hello");
        CliRun bad = CliRun.of("predict", "--checkpoint", checkpoint.toString(), "--image", notImage.toString());
        assertEquals(1, bad.exit());
        assertTrue(bad.err().contains("x.png"), bad.err());
        CliRun missing = CliRun.of("predict", "--checkpoint", checkpoint.toString(), "--image", dir.resolve("none.png").toString());
        assertEquals(1, missing.exit());
        assertTrue(missing.err().contains("none.png"), missing.err());
    }
}
