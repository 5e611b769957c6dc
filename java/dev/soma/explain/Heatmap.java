package dev.soma.explain;

import dev.soma.io.AtomicFiles;
import dev.soma.util.ImageGrid;

import javax.imageio.ImageIO;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * One PNG: the image, then one panel per attribution with the map over a dimmed copy of the image, red for
 * evidence for the target and blue against, each labelled with its method. Values are summed over channels and
 * scaled by the 99th percentile of their magnitude (Captum's visualiser clips outliers the same way), so one hot
 * pixel does not wash out the rest.
 */
public final class Heatmap {
    static {
        if (System.getProperty("java.awt.headless") == null) System.setProperty("java.awt.headless", "true");
    }

    private static final int LABEL = 16;
    private static final int GAP = 4;

    private Heatmap() {}

    public static BufferedImage render(float[] image, long[] exampleShape, double lo, double hi, List<Attribution> maps,
                                       int scale) {
        int[] hwc = ImageGrid.imageShape(exampleShape);
        int h = hwc[0], w = hwc[1], c = hwc[2];
        int tileW = w * scale, tileH = h * scale;
        int panels = maps.size() + 1;
        BufferedImage out = new BufferedImage(panels * (tileW + GAP) + GAP, tileH + LABEL + 2 * GAP, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = out.createGraphics();
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, out.getWidth(), out.getHeight());
        g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 11));
        g.setColor(Color.BLACK);
        float[] grey = grey(image, h * w, c, lo, hi);
        for (int p = 0; p < panels; p++) {
            int x0 = GAP + p * (tileW + GAP);
            float[] heat = p == 0 ? null : pixels(maps.get(p - 1), h * w);
            double top = heat == null ? 1 : percentileAbs(heat, 0.99);
            g.drawString(p == 0 ? "input" : label(maps.get(p - 1)), x0, LABEL - 4);
            for (int y = 0; y < h; y++) {
                for (int x = 0; x < w; x++) {
                    int i = y * w + x;
                    int rgb = heat == null ? greyRgb(grey[i]) : blend(grey[i], heat[i] / top);
                    for (int dy = 0; dy < scale; dy++) {
                        for (int dx = 0; dx < scale; dx++) out.setRGB(x0 + x * scale + dx, LABEL + GAP + y * scale + dy, rgb);
                    }
                }
            }
        }
        g.dispose();
        return out;
    }

    public static void write(Path png, float[] image, long[] exampleShape, double lo, double hi, List<Attribution> maps,
                             int scale) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        if (!ImageIO.write(render(image, exampleShape, lo, hi, maps, scale), "png", bytes)) {
            throw new IOException("no PNG writer in this Java runtime");
        }
        AtomicFiles.write(png, bytes.toByteArray());
    }

    private static String label(Attribution a) {
        return Double.isNaN(a.delta()) ? a.method()
                : String.format(Locale.ROOT, "%s (delta %.1e)", a.method(), a.delta());
    }

    /** Attribution per pixel: the sum over channels. */
    static float[] pixels(Attribution a, int pixels) {
        if (a.values().length == pixels) return a.values();
        return a.sumOverTrailing(1);
    }

    static double percentileAbs(float[] v, double q) {
        float[] abs = RankCorrelation.abs(v);
        Arrays.sort(abs);
        double t = abs[Math.min(abs.length - 1, (int) Math.floor(q * (abs.length - 1)))];
        return t > 0 ? t : 1;
    }

    private static float[] grey(float[] image, int pixels, int c, double lo, double hi) {
        float[] out = new float[pixels];
        for (int i = 0; i < pixels; i++) {
            double s = 0;
            for (int k = 0; k < c; k++) s += image[i * c + k];
            out[i] = (float) Math.max(0, Math.min(1, (s / c - lo) / (hi - lo)));
        }
        return out;
    }

    private static int greyRgb(float v) {
        int l = Math.round(255 * v);
        return (l << 16) | (l << 8) | l;
    }

    /** A dimmed grey pixel with red (t > 0) or blue (t < 0) laid over it, opacity |t| clipped to 1. */
    private static int blend(float grey, double t) {
        double a = Math.min(1, Math.abs(t));
        double base = 0.25 + 0.35 * grey;
        double r = base, gr = base, b = base;
        if (t > 0) {
            r = base + a * (1 - base);
            gr = base * (1 - a);
            b = base * (1 - a);
        } else if (t < 0) {
            r = base * (1 - a);
            gr = base * (1 - a) + a * 0.35;
            b = base + a * (1 - base);
        }
        return ((int) Math.round(255 * r) << 16) | ((int) Math.round(255 * gr) << 8) | (int) Math.round(255 * b);
    }
}
