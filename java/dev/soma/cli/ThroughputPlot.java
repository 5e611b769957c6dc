package dev.soma.cli;

import dev.soma.io.AtomicFiles;
import dev.soma.util.AxisLabels;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.Styler;
import org.knowm.xchart.style.markers.SeriesMarkers;

import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The PNG of {@code bench op --plot}: two panels against size (log scale), achieved GFLOP/s with each device's
 * GEMM peak drawn as a dashed line, and achieved GB/s with its copy bandwidth; one curve per variant.
 */
final class ThroughputPlot {
    static final int W = 640;
    static final int H = 440;

    static {
        if (System.getProperty("java.awt.headless") == null) System.setProperty("java.awt.headless", "true");
    }

    private ThroughputPlot() {}

    static void write(Path png, String title, List<BenchOpCommand.Row> rows, Collection<Ceilings> ceilings) throws IOException {
        if (rows.isEmpty()) throw new IllegalArgumentException("bench op --plot: no measurements to draw");
        BufferedImage left = BitmapEncoder.getBufferedImage(panel(title, "GFLOP/s", rows, ceilings, true));
        BufferedImage right = BitmapEncoder.getBufferedImage(panel(title, "GB/s", rows, ceilings, false));
        BufferedImage all = new BufferedImage(2 * W, H, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = all.createGraphics();
        try {
            g.setColor(Color.WHITE);
            g.fillRect(0, 0, all.getWidth(), all.getHeight());
            g.drawImage(left, 0, 0, null);
            g.drawImage(right, W, 0, null);
        } finally {
            g.dispose();
        }
        java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
        javax.imageio.ImageIO.write(all, "png", bytes);
        AtomicFiles.write(png, bytes.toByteArray());
    }

    /**
     * One panel. Sizes are drawn at {@code log2(size)} and throughputs at {@code log10(value)} (when all are positive;
     * otherwise linear), each tick labelled with what it stands for ({@link AxisLabels}): XChart's own logarithmic
     * axes label powers of ten only, which left a sweep inside one decade without a single label.
     */
    static XYChart panel(String title, String unit, List<BenchOpCommand.Row> rows, Collection<Ceilings> ceilings,
                         boolean flops) {
        XYChart chart = new XYChartBuilder().width(W).height(H).title(title.length() > 60 ? title.substring(0, 60) + "…" : title)
                .xAxisTitle("size (log scale)").yAxisTitle(unit).build();
        Styler s = chart.getStyler();
        s.setLegendPosition(Styler.LegendPosition.OutsideS);
        s.setLegendLayout(Styler.LegendLayout.Horizontal);
        s.setChartBackgroundColor(Color.WHITE);
        boolean logY = rows.stream().allMatch(r -> (flops ? r.gflops() : r.gbps()) > 0)
                && ceilings.stream().allMatch(c -> (flops ? c.gemmGflops() : c.copyGBps()) > 0);
        chart.setCustomXAxisTickLabelsFormatter(AxisLabels.log2Sizes());
        if (logY) {
            chart.setCustomYAxisTickLabelsFormatter(AxisLabels.log10Values());
            chart.setYAxisTitle(unit + " (log scale)");
        }
        Map<String, double[][]> curves = new LinkedHashMap<>();
        for (BenchOpCommand.Row r : rows) curves.putIfAbsent(r.variant(), null);
        double lo = Double.MAX_VALUE;
        double hi = -Double.MAX_VALUE;
        for (String v : curves.keySet()) {
            List<BenchOpCommand.Row> mine = rows.stream().filter(r -> r.variant().equals(v)).toList();
            double[] x = mine.stream().mapToDouble(r -> log2(r.size())).toArray();
            double[] y = mine.stream().mapToDouble(r -> y(flops ? r.gflops() : r.gbps(), logY)).toArray();
            for (double xi : x) {
                lo = Math.min(lo, xi);
                hi = Math.max(hi, xi);
            }
            chart.addSeries(v, x, y).setMarker(SeriesMarkers.CIRCLE);
        }
        for (Ceilings c : ceilings) {
            double level = y(flops ? c.gemmGflops() : c.copyGBps(), logY);
            XYSeries line = chart.addSeries((flops ? "GEMM peak " : "copy bandwidth ") + c.device(),
                    new double[] {lo, Math.max(hi, lo + 1e-4)}, new double[] {level, level});
            line.setMarker(SeriesMarkers.NONE);
            line.setLineStyle(new java.awt.BasicStroke(2f, java.awt.BasicStroke.CAP_BUTT, java.awt.BasicStroke.JOIN_MITER, 10f,
                    new float[] {8f, 6f}, 0f));
        }
        return chart;
    }

    private static double log2(double size) {
        return Math.log(size) / Math.log(2);
    }

    private static double y(double value, boolean log) {
        return log ? Math.log10(value) : value;
    }
}
