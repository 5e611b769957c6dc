package dev.soma.robust;

import dev.soma.io.AtomicFiles;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.style.Styler;

import javax.imageio.ImageIO;
import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.file.Path;

/**
 * Two panels side by side: accuracy against the Gaussian noise level and against the attack's epsilon, with the
 * measured x values on the axis (XChart, as {@link dev.soma.util.Plots}, which draws series against epochs).
 */
public final class RobustnessPlot {
    private static final int W = 560;
    private static final int H = 400;

    static {
        if (System.getProperty("java.awt.headless") == null) System.setProperty("java.awt.headless", "true");
    }

    private RobustnessPlot() {}

    public static void write(Path png, double[] sigmas, double[] noiseAccuracy, String attack, double[] epsilons,
                             double[] attackAccuracy) throws IOException {
        BufferedImage left = BitmapEncoder.getBufferedImage(chart("Gaussian noise", "noise sigma", sigmas, noiseAccuracy));
        BufferedImage right = BitmapEncoder.getBufferedImage(chart(attack, "epsilon", epsilons, attackAccuracy));
        BufferedImage all = new BufferedImage(2 * W, H, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = all.createGraphics();
        try {
            g.drawImage(left, 0, 0, null);
            g.drawImage(right, W, 0, null);
        } finally {
            g.dispose();
        }
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        if (!ImageIO.write(all, "png", bytes)) throw new IOException("no PNG writer in this Java runtime");
        AtomicFiles.write(png, bytes.toByteArray());
    }

    private static XYChart chart(String title, String xLabel, double[] x, double[] y) {
        if (x.length == 0 || x.length != y.length) {
            throw new IllegalArgumentException("RobustnessPlot: " + x.length + " x values and " + y.length + " accuracies");
        }
        XYChart c = new XYChartBuilder().width(W).height(H).title("accuracy under " + title).xAxisTitle(xLabel)
                .yAxisTitle("accuracy").build();
        Styler s = c.getStyler();
        s.setLegendVisible(false);
        s.setChartBackgroundColor(Color.WHITE);
        s.setAntiAlias(true);
        c.getStyler().setYAxisMin(0.0);
        c.getStyler().setYAxisMax(1.0);
        c.addSeries("accuracy", x, y);
        return c;
    }
}
