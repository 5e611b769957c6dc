package dev.soma.cli;

import dev.soma.model.Checkpoint;
import dev.soma.model.Sequential;
import dev.soma.nn.DaleDense;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.*;

/** {@code soma train dale}: the curves, the checkpoint and the weight-sign histograms on a slice of MNIST. */
@ExtendWith(NoLeaks.class)
class DaleCliTest {
    @Test
    void trainDaleWritesCurvesCheckpointAndSignHistograms(@TempDir Path dir) throws Exception {
        CliRun r = CliRun.of("train", "dale", "--limit", "256", "--test-limit", "64", "--epochs", "2", "--quiet",
                "--out", dir.toString());
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.out().contains("dale_dense"), r.out());
        Matcher min = Pattern.compile("smallest constrained weight (\\S+)\\)").matcher(r.out());
        assertTrue(min.find(), r.out());
        assertTrue(Double.parseDouble(min.group(1)) >= 0, r.out());
        BufferedImage signs = ImageIO.read(dir.resolve("weight-signs.png").toFile());
        // Two DaleDense layers (rows) of three weights (panels).
        assertEquals(3 * dev.soma.util.WeightHistograms.PANEL_WIDTH, signs.getWidth());
        assertEquals(2 * dev.soma.util.WeightHistograms.PANEL_HEIGHT, signs.getHeight());
        assertNotNull(ImageIO.read(dir.resolve("curves.png").toFile()));
        try (Sequential m = Checkpoint.load(dir.resolve("model.safetensors"))) {
            assertInstanceOf(DaleDense.class, m.layers().get(1));
        }
    }
}
