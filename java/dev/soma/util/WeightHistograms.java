package dev.soma.util;

import dev.soma.io.AtomicFiles;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.CategoryChart;
import org.knowm.xchart.CategoryChartBuilder;
import org.knowm.xchart.Histogram;
import org.knowm.xchart.style.Styler;

import javax.imageio.ImageIO;
import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A PNG grid of weight histograms: one row per layer, one panel per weight, each titled with the weight's name and
 * its minimum and maximum (so a sign constraint can be read off the picture).
 */
public final class WeightHistograms {
    public static final int PANEL_WIDTH = 420;
    public static final int PANEL_HEIGHT = 300;
    private static final int BINS = 30;

    static {
        if (System.getProperty("java.awt.headless") == null) System.setProperty("java.awt.headless", "true");
    }

    private WeightHistograms() {}

    /** {@code rows}: per layer, weight name to its values (row-major, any shape). */
    public static void write(Path png, List<Map<String, double[]>> rows) throws IOException {
        if (rows.isEmpty()) throw new IllegalArgumentException("WeightHistograms: no layers to draw");
        int columns = 0;
        for (Map<String, double[]> r : rows) columns = Math.max(columns, r.size());
        if (columns == 0) throw new IllegalArgumentException("WeightHistograms: no weights to draw");
        BufferedImage all = new BufferedImage(PANEL_WIDTH * columns, PANEL_HEIGHT * rows.size(), BufferedImage.TYPE_INT_RGB);
        Graphics2D g = all.createGraphics();
        try {
            g.setColor(Color.WHITE);
            g.fillRect(0, 0, all.getWidth(), all.getHeight());
            for (int r = 0; r < rows.size(); r++) {
                int c = 0;
                for (Map.Entry<String, double[]> e : rows.get(r).entrySet()) {
                    g.drawImage(BitmapEncoder.getBufferedImage(panel(e.getKey(), e.getValue())), c * PANEL_WIDTH,
                            r * PANEL_HEIGHT, null);
                    c++;
                }
            }
        } finally {
            g.dispose();
        }
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        if (!ImageIO.write(all, "png", bytes)) throw new IOException("no PNG writer in this Java runtime");
        AtomicFiles.write(png, bytes.toByteArray());
    }

    private static CategoryChart panel(String name, double[] values) {
        if (values.length == 0) throw new IllegalArgumentException("WeightHistograms: weight '" + name + "' is empty");
        double min = Double.POSITIVE_INFINITY, max = Double.NEGATIVE_INFINITY;
        List<Double> data = new ArrayList<>(values.length);
        for (double v : values) {
            if (!Double.isFinite(v)) throw new IllegalArgumentException("WeightHistograms: weight '" + name + "' holds " + v);
            min = Math.min(min, v);
            max = Math.max(max, v);
            data.add(v);
        }
        double hi = max > min ? max : min + 1e-6; // a constant weight still gets one visible bar
        Histogram h = new Histogram(data, BINS, min, hi);
        CategoryChart chart = new CategoryChartBuilder().width(PANEL_WIDTH).height(PANEL_HEIGHT)
                .title(String.format(java.util.Locale.ROOT, "%s  min %.3g  max %.3g", name, min, max))
                .xAxisTitle("value").yAxisTitle("count").build();
        Styler s = chart.getStyler();
        s.setLegendVisible(false);
        s.setChartBackgroundColor(Color.WHITE);
        chart.getStyler().setAvailableSpaceFill(0.99);
        chart.getStyler().setOverlapped(true);
        chart.getStyler().setXAxisDecimalPattern("0.###");
        chart.getStyler().setXAxisMaxLabelCount(6);
        chart.addSeries(name, h.getxAxisData(), h.getyAxisData());
        return chart;
    }

    /** Convenience for one row: keeps insertion order. */
    public static Map<String, double[]> row() {
        return new LinkedHashMap<>();
    }
}
