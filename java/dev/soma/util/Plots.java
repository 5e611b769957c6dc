package dev.soma.util;

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
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * PNG line charts (XChart, rendered off-screen: no display needed). {@link #history} draws a Keras-style training
 * history: one panel per metric, training and validation ({@code val_} prefix) curves together, per epoch.
 */
public final class Plots {
    public static final int PANEL_WIDTH = 640;
    public static final int PANEL_HEIGHT = 420;

    static {
        // Must be set before AWT initialises; a caller's explicit choice wins.
        if (System.getProperty("java.awt.headless") == null) System.setProperty("java.awt.headless", "true");
    }

    private Plots() {}

    /** One chart of named series; point i of each series is drawn at x = i + 1 (epochs count from 1). */
    public static void lineChart(Path png, String title, String xLabel, String yLabel, Map<String, double[]> series,
                                 int width, int height) throws IOException {
        writePng(png, render(chart(title, xLabel, yLabel, series, width, height)));
    }

    /**
     * A training history ({@code "loss"}, {@code "val_loss"}, {@code "accuracy"}, ...) as panels side by side, one
     * per metric, each {@link #PANEL_WIDTH} x {@link #PANEL_HEIGHT}.
     */
    public static void history(Path png, Map<String, double[]> history) throws IOException {
        if (history.isEmpty()) throw new IllegalArgumentException("Plots.history: no series to draw");
        Map<String, Map<String, double[]>> panels = new LinkedHashMap<>();
        for (Map.Entry<String, double[]> e : history.entrySet()) {
            String metric = e.getKey().startsWith("val_") ? e.getKey().substring(4) : e.getKey();
            panels.computeIfAbsent(metric, k -> new LinkedHashMap<>()).put(e.getKey(), e.getValue());
        }
        List<BufferedImage> images = new ArrayList<>();
        for (Map.Entry<String, Map<String, double[]>> p : panels.entrySet()) {
            images.add(render(chart(p.getKey(), "epoch", p.getKey(), p.getValue(), PANEL_WIDTH, PANEL_HEIGHT)));
        }
        BufferedImage all = new BufferedImage(PANEL_WIDTH * images.size(), PANEL_HEIGHT, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = all.createGraphics();
        try {
            g.setColor(Color.WHITE);
            g.fillRect(0, 0, all.getWidth(), all.getHeight());
            for (int i = 0; i < images.size(); i++) g.drawImage(images.get(i), i * PANEL_WIDTH, 0, null);
        } finally {
            g.dispose();
        }
        writePng(png, all);
    }

    /** Up to this many epochs each gets its own labelled tick; beyond, XChart's evenly spaced ticks read better. */
    static final int TICK_PER_EPOCH_UP_TO = 20;

    static XYChart chart(String title, String xLabel, String yLabel, Map<String, double[]> series,
                         int width, int height) {
        if (series.isEmpty()) throw new IllegalArgumentException("Plots: chart '" + title + "' has no series");
        if (width < 50 || height < 50 || width > 16384 || height > 16384) {
            throw new IllegalArgumentException("Plots: size " + width + "x" + height + " is outside 50..16384 pixels");
        }
        XYChart chart = new XYChartBuilder().width(width).height(height).title(title).xAxisTitle(xLabel)
                .yAxisTitle(yLabel).build();
        Styler s = chart.getStyler();
        s.setLegendPosition(Styler.LegendPosition.OutsideS); // never over the curves
        s.setLegendLayout(Styler.LegendLayout.Horizontal);
        s.setChartBackgroundColor(Color.WHITE);
        s.setAntiAlias(true);
        for (Map.Entry<String, double[]> e : series.entrySet()) {
            double[] y = e.getValue();
            if (y.length == 0) throw new IllegalArgumentException("Plots: series '" + e.getKey() + "' is empty");
            double[] x = new double[y.length];
            for (int i = 0; i < y.length; i++) {
                x[i] = i + 1;
                if (!Double.isFinite(y[i])) {
                    throw new IllegalArgumentException("Plots: series '" + e.getKey() + "' has " + y[i] + " at point " + (i + 1));
                }
            }
            chart.addSeries(e.getKey(), x, y);
        }
        readableTicks(chart, series);
        return chart;
    }

    /**
     * Whole epochs as x ticks (a single epoch got ticks at fractions of it), and a y range with some room: when every
     * value is equal (one epoch, or a flat curve) XChart stretched a zero range into ticks like 4.0094E-1, 4.00938E-1.
     */
    private static void readableTicks(XYChart chart, Map<String, double[]> series) {
        int points = 0;
        double lo = Double.MAX_VALUE;
        double hi = -Double.MAX_VALUE;
        for (double[] y : series.values()) {
            points = Math.max(points, y.length);
            for (double v : y) {
                lo = Math.min(lo, v);
                hi = Math.max(hi, v);
            }
        }
        if (points <= TICK_PER_EPOCH_UP_TO) chart.setCustomXAxisTickLabelsFormatter(AxisLabels.wholeNumbers());
        double range = hi - lo;
        double scale = Math.max(Math.abs(hi), Math.abs(lo));
        if (range < 1e-3 * Math.max(scale, 1e-12) || points == 1) {
            // Pad to a round span around the values so the ticks are short decimals.
            double pad = Math.max(range, scale > 0 ? 0.1 * scale : 1);
            chart.getStyler().setYAxisMin(lo - pad);
            chart.getStyler().setYAxisMax(hi + pad);
        }
        chart.getStyler().setYAxisDecimalPattern("#,##0.####");
    }

    private static BufferedImage render(XYChart chart) {
        return BitmapEncoder.getBufferedImage(chart);
    }

    private static void writePng(Path png, BufferedImage image) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        if (!ImageIO.write(image, "png", bytes)) throw new IOException("no PNG writer in this Java runtime");
        AtomicFiles.write(png, bytes.toByteArray());
    }
}
