package dev.soma.data;

import dev.soma.errors.ShapeException;

import javax.imageio.ImageIO;
import java.awt.color.ColorSpace;
import java.awt.image.BufferedImage;
import java.awt.image.IndexColorModel;
import java.awt.image.Raster;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * A user's image file (PNG, JPEG, BMP, GIF: whatever javax.imageio reads) as one example for an image model, in
 * Soma's channels-last layout {@code [height, width, channels]}, pixels scaled to [0, 1] as the MNIST-format
 * datasets are in training. One channel is the file's grey value, or the luminance (ITU-R BT.601) of a colour
 * file; three are red, green, blue. A transparent pixel counts as black (MNIST's background); {@code invert} turns
 * dark-on-light drawings into MNIST's light-on-dark.
 */
public final class ImageFiles {
    private ImageFiles() {}

    /**
     * Reads {@code file} as {@code height x width x channels} floats in [0, 1]. A picture of another size is an error
     * unless {@code resize}, which scales it (bilinear, pixel centres aligned) to the size the model takes.
     */
    public static float[] read(Path file, int height, int width, int channels, boolean resize, boolean invert)
            throws IOException {
        if (height <= 0 || width <= 0) throw new IllegalArgumentException("ImageFiles.read: size " + height + "x" + width);
        if (channels != 1 && channels != 3) {
            throw new ShapeException("ImageFiles.read: images have 1 (grey) or 3 (RGB) channels; the model takes "
                    + channels);
        }
        if (Files.isDirectory(file)) throw new IOException(file + ": is a folder, not an image file");
        if (!Files.isRegularFile(file)) throw new FileNotFoundException(file + ": no such image file");
        BufferedImage image;
        try {
            image = ImageIO.read(file.toFile());
        } catch (IOException e) {
            throw new IOException(file + ": cannot decode the image (" + e.getMessage() + ")", e);
        }
        if (image == null) {
            throw new IOException(file + ": not an image javax.imageio can read (readable: "
                    + String.join(", ", sortedFormats()) + ")");
        }
        int w = image.getWidth();
        int h = image.getHeight();
        if ((w != width || h != height) && !resize) {
            throw new ShapeException(file + ": the image is " + w + "x" + h + " pixels (width x height), but the model "
                    + "takes " + width + "x" + height + "; resize it (--resize scales it)");
        }
        float[] pixels = channels == 1 ? grey(image) : rgb(image);
        if (w != width || h != height) pixels = bilinear(pixels, h, w, channels, height, width);
        if (invert) for (int i = 0; i < pixels.length; i++) pixels[i] = 1 - pixels[i];
        return pixels;
    }

    /**
     * Grey values in [0, 1]. A grey file's stored samples are used as they are (getRGB would pass them through
     * Java's linear-grey colour space and brighten them); colour pixels become their luminance (BT.601).
     */
    private static float[] grey(BufferedImage image) {
        int w = image.getWidth();
        int h = image.getHeight();
        float[] out = new float[w * h];
        if (isGrey(image)) {
            Raster r = image.getRaster();
            double max = (1L << image.getColorModel().getComponentSize(0)) - 1;
            boolean alpha = r.getNumBands() == 2;
            double alphaMax = alpha ? (1L << image.getColorModel().getComponentSize(1)) - 1 : 1;
            for (int y = 0; y < h; y++) {
                for (int x = 0; x < w; x++) {
                    double a = alpha ? r.getSample(x, y, 1) / alphaMax : 1;
                    out[y * w + x] = (float) (r.getSample(x, y, 0) / max * a);
                }
            }
            return out;
        }
        float[] c = rgb(image);
        for (int i = 0; i < out.length; i++) out[i] = (float) (0.299 * c[3 * i] + 0.587 * c[3 * i + 1] + 0.114 * c[3 * i + 2]);
        return out;
    }

    /** Red, green, blue in [0, 1] (sRGB), channels last; a grey file's samples are copied into all three. */
    private static float[] rgb(BufferedImage image) {
        int w = image.getWidth();
        int h = image.getHeight();
        float[] out = new float[w * h * 3];
        if (isGrey(image)) {
            float[] g = grey(image);
            for (int i = 0; i < g.length; i++) out[3 * i] = out[3 * i + 1] = out[3 * i + 2] = g[i];
            return out;
        }
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                int argb = image.getRGB(x, y);
                double a = (argb >>> 24) / 255.0;
                int at = (y * w + x) * 3;
                out[at] = (float) (((argb >> 16) & 0xff) / 255.0 * a);
                out[at + 1] = (float) (((argb >> 8) & 0xff) / 255.0 * a);
                out[at + 2] = (float) ((argb & 0xff) / 255.0 * a);
            }
        }
        return out;
    }

    private static boolean isGrey(BufferedImage image) {
        return image.getColorModel().getColorSpace().getType() == ColorSpace.TYPE_GRAY
                && !(image.getColorModel() instanceof IndexColorModel) && image.getRaster().getNumBands() <= 2;
    }

    /** Bilinear resampling with pixel centres aligned (as PIL and tf.image.resize), channels last. */
    static float[] bilinear(float[] src, int h, int w, int c, int outH, int outW) {
        float[] out = new float[outH * outW * c];
        double sy = (double) h / outH;
        double sx = (double) w / outW;
        for (int y = 0; y < outH; y++) {
            double fy = Math.max(0, Math.min(h - 1, (y + 0.5) * sy - 0.5));
            int y0 = (int) fy;
            int y1 = Math.min(h - 1, y0 + 1);
            double dy = fy - y0;
            for (int x = 0; x < outW; x++) {
                double fx = Math.max(0, Math.min(w - 1, (x + 0.5) * sx - 0.5));
                int x0 = (int) fx;
                int x1 = Math.min(w - 1, x0 + 1);
                double dx = fx - x0;
                for (int k = 0; k < c; k++) {
                    double top = src[(y0 * w + x0) * c + k] * (1 - dx) + src[(y0 * w + x1) * c + k] * dx;
                    double bottom = src[(y1 * w + x0) * c + k] * (1 - dx) + src[(y1 * w + x1) * c + k] * dx;
                    out[(y * outW + x) * c + k] = (float) (top * (1 - dy) + bottom * dy);
                }
            }
        }
        return out;
    }

    private static String[] sortedFormats() {
        String[] f = Arrays.stream(ImageIO.getReaderFileSuffixes()).map(String::toLowerCase).distinct().toArray(String[]::new);
        Arrays.sort(f);
        return f;
    }
}
