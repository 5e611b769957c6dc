package dev.soma.util;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

class PlotsTest {
    @TempDir
    Path dir;

    @Test
    void lineChartWritesAPngOfTheRequestedSize() throws IOException {
        Map<String, double[]> s = new LinkedHashMap<>();
        s.put("train", new double[] {0.9, 0.5, 0.3, 0.25});
        s.put("validation", new double[] {0.8, 0.55, 0.4, 0.38});
        Path png = dir.resolve("sub/loss.png");
        Plots.lineChart(png, "loss", "epoch", "loss", s, 500, 300);
        BufferedImage img = ImageIO.read(png.toFile());
        assertNotNull(img, "not a decodable image");
        assertEquals(500, img.getWidth());
        assertEquals(300, img.getHeight());
        assertTrue(distinctColours(img) > 10, "the chart looks blank");
        byte[] head = Files.readAllBytes(png);
        assertEquals((byte) 0x89, head[0]);
        assertEquals('P', head[1]);
    }

    @Test
    void historyDrawsOnePanelPerMetric() throws IOException {
        Map<String, double[]> h = new LinkedHashMap<>();
        h.put("loss", new double[] {0.5, 0.2, 0.1});
        h.put("accuracy", new double[] {0.85, 0.95, 0.97});
        h.put("val_loss", new double[] {0.4, 0.25, 0.2});
        h.put("val_accuracy", new double[] {0.88, 0.93, 0.95});
        Path png = dir.resolve("history.png");
        Plots.history(png, h);
        BufferedImage img = ImageIO.read(png.toFile());
        assertEquals(2 * Plots.PANEL_WIDTH, img.getWidth());
        assertEquals(Plots.PANEL_HEIGHT, img.getHeight());
        // A single epoch is a valid history too.
        Plots.history(png, Map.of("loss", new double[] {0.7}));
        assertEquals(Plots.PANEL_WIDTH, ImageIO.read(png.toFile()).getWidth());
    }

    @Test
    void badInputIsRejected() {
        assertThrows(IllegalArgumentException.class, () -> Plots.history(dir.resolve("a.png"), Map.of()));
        assertThrows(IllegalArgumentException.class,
                () -> Plots.history(dir.resolve("a.png"), Map.of("loss", new double[0])));
        IllegalArgumentException nan = assertThrows(IllegalArgumentException.class,
                () -> Plots.history(dir.resolve("a.png"), Map.of("loss", new double[] {1, Double.NaN})));
        assertTrue(nan.getMessage().contains("'loss'") && nan.getMessage().contains("point 2"), nan.getMessage());
        assertThrows(IllegalArgumentException.class,
                () -> Plots.lineChart(dir.resolve("a.png"), "t", "x", "y", Map.of("a", new double[] {1}), 10, 10));
        assertFalse(Files.exists(dir.resolve("a.png")));
    }

    private static int distinctColours(BufferedImage img) {
        java.util.Set<Integer> c = new java.util.HashSet<>();
        for (int y = 0; y < img.getHeight(); y += 3) for (int x = 0; x < img.getWidth(); x += 3) c.add(img.getRGB(x, y));
        return c.size();
    }

    @Test
    void oneEpochAndFlatHistoriesHaveWholeEpochTicksAndRoomAroundTheirValues() {
        for (double[] y : new double[][] {{0.7}, {0.40094, 0.40093, 0.40094}}) {
            org.knowm.xchart.XYChart c = Plots.chart("loss", "epoch", "loss", Map.of("loss", y), 640, 420);
            java.util.function.Function<Double, String> ticks = c.getStyler().getxAxisTickLabelsFormattingFunction();
            assertNotNull(ticks, "epochs need labels of their own");
            assertEquals("1", ticks.apply(1.0));
            assertEquals("", ticks.apply(1.5), "no epoch 1.5");
            double min = c.getStyler().getYAxisMin();
            double max = c.getStyler().getYAxisMax();
            assertTrue(max - min > 0.05, "the y range [" + min + ", " + max + "] is too narrow for readable ticks");
            for (double v : y) assertTrue(min < v && v < max, v + " outside [" + min + ", " + max + "]");
        }
    }

    @Test
    void axisLabelsNameWhatALogAxisStandsFor() {
        assertEquals("64Ki", AxisLabels.log2Sizes().apply(16.0));
        assertEquals("1Mi", AxisLabels.log2Sizes().apply(20.0));
        assertEquals("1000", AxisLabels.log2Sizes().apply(Math.log(1000) / Math.log(2)));
        assertEquals("100", AxisLabels.log10Values().apply(2.0));
        assertEquals("63.1", AxisLabels.log10Values().apply(1.8));
        assertEquals("0.00125", AxisLabels.log10Values().apply(Math.log10(0.00125)));
    }
}
