package dev.soma.util;

import dev.soma.io.AtomicFiles;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.file.Path;

/**
 * Writes a batch of images as one PNG grid (off-screen java.awt, no display needed). Each example is
 * {@code [H, W, C]} with C 1 (grey) or 3 (RGB), or a flat vector of a square number of grey pixels (an MLP's 784).
 * Values in {@code [lo, hi]} map to 0..255 (clipped): a tanh generator's [-1, 1], say.
 */
public final class ImageGrid {
    static {
        if (System.getProperty("java.awt.headless") == null) System.setProperty("java.awt.headless", "true");
    }

    private static final int GAP = 2;

    private ImageGrid() {}

    /** {@code [height, width, channels]} of one example of shape {@code exampleShape}. */
    public static int[] imageShape(long[] exampleShape) {
        if (exampleShape.length == 1) {
            long side = Math.round(Math.sqrt(exampleShape[0]));
            if (side * side == exampleShape[0] && side > 0) return new int[] {(int) side, (int) side, 1};
        } else if (exampleShape.length == 2) {
            return new int[] {(int) exampleShape[0], (int) exampleShape[1], 1};
        } else if (exampleShape.length == 3 && (exampleShape[2] == 1 || exampleShape[2] == 3)) {
            return new int[] {(int) exampleShape[0], (int) exampleShape[1], (int) exampleShape[2]};
        }
        throw new IllegalArgumentException("ImageGrid: cannot draw examples of shape " + java.util.Arrays.toString(exampleShape)
                + " as images; expected [H, W, 1], [H, W, 3], [H, W] or a square number of pixels");
    }

    /** The grid as an image: {@code count} examples, {@code columns} per row, each pixel drawn {@code scale} times. */
    public static BufferedImage render(float[] values, long[] exampleShape, int columns, double lo, double hi, int scale) {
        int[] hwc = imageShape(exampleShape);
        int h = hwc[0];
        int w = hwc[1];
        int c = hwc[2];
        int per = h * w * c;
        if (per == 0 || values.length % per != 0) {
            throw new IllegalArgumentException("ImageGrid: " + values.length + " values do not make whole images of "
                    + h + "x" + w + "x" + c);
        }
        if (columns < 1 || scale < 1 || !(hi > lo)) {
            throw new IllegalArgumentException("ImageGrid: columns and scale must be >= 1 and hi > lo");
        }
        int count = values.length / per;
        int rows = (int) ((count + (long) columns - 1) / columns);
        int cols = Math.min(columns, count);
        long tileW = (long) w * scale + GAP, tileH = (long) h * scale + GAP;
        long width = cols * tileW + GAP, height = rows * tileH + GAP;
        if (width * (double) height > Integer.MAX_VALUE - 8) { // one int per pixel, in one Java array
            throw new IllegalArgumentException("ImageGrid: " + count + " images of " + h + "x" + w + " at scale " + scale
                    + ", " + columns + " per row, make " + width + "x" + height + " pixels: more than one image holds");
        }
        BufferedImage img = new BufferedImage((int) width, (int) height, BufferedImage.TYPE_INT_RGB);
        for (int n = 0; n < count; n++) {
            int x0 = (int) (GAP + (n % columns) * tileW); // within the width checked above
            int y0 = (int) (GAP + (n / columns) * tileH);
            for (int y = 0; y < h; y++) {
                for (int x = 0; x < w; x++) {
                    int base = n * per + (y * w + x) * c;
                    int r = level(values[base], lo, hi);
                    int rgb = c == 1 ? (r << 16) | (r << 8) | r
                            : (r << 16) | (level(values[base + 1], lo, hi) << 8) | level(values[base + 2], lo, hi);
                    for (int dy = 0; dy < scale; dy++) {
                        for (int dx = 0; dx < scale; dx++) img.setRGB(x0 + x * scale + dx, y0 + y * scale + dy, rgb);
                    }
                }
            }
        }
        return img;
    }

    /** Renders and writes the grid atomically. */
    public static void write(Path png, float[] values, long[] exampleShape, int columns, double lo, double hi, int scale)
            throws IOException {
        BufferedImage img = render(values, exampleShape, columns, lo, hi, scale);
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        if (!ImageIO.write(img, "png", bytes)) throw new IOException("no PNG writer in this Java runtime");
        AtomicFiles.write(png, bytes.toByteArray());
    }

    private static int level(float v, double lo, double hi) {
        if (Float.isNaN(v)) return 255; // NaN shows as white, never as plausible grey
        double t = (v - lo) / (hi - lo);
        return (int) Math.round(255 * Math.max(0, Math.min(1, t)));
    }
}
