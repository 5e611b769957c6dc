package dev.soma.explain;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * The reference input of Integrated Gradients (and the fill of occlusion): "no signal" for the model. Zeros
 * (black image, zero embedding), a constant, a given example, a blurred copy of the input (Sturmfels et al.,
 * "Visualizing the Impact of Feature Attribution Baselines", 2020) or seeded uniform noise.
 */
@FunctionalInterface
public interface Baseline {
    /** The baseline for {@code example} of shape {@code shape}, as a new array of the same length. */
    float[] of(float[] example, long[] shape);

    static Baseline zeros() {
        return constant(0);
    }

    static Baseline constant(double value) {
        if (!Double.isFinite(value)) throw new IllegalArgumentException("Baseline.constant: the value must be finite, got " + value);
        return (x, shape) -> {
            float[] b = new float[x.length];
            Arrays.fill(b, (float) value);
            return b;
        };
    }

    /** A given baseline, which must have the example's number of values. */
    static Baseline of(float[] values) {
        float[] copy = values.clone();
        return (x, shape) -> {
            if (copy.length != x.length) {
                throw new dev.soma.errors.ShapeException("Baseline: the given baseline has " + copy.length
                        + " values, the example of shape " + Arrays.toString(shape) + " has " + x.length);
            }
            return copy.clone();
        };
    }

    /** Values drawn uniformly from {@code [lo, hi)} with a seeded generator. */
    static Baseline uniform(double lo, double hi, long seed) {
        if (!(hi > lo) || !Double.isFinite(hi - lo)) {
            throw new IllegalArgumentException("Baseline.uniform: need finite bounds with hi > lo, got [" + lo + ", " + hi + ")");
        }
        return (x, shape) -> {
            SplittableRandom r = new SplittableRandom(seed);
            float[] b = new float[x.length];
            for (int i = 0; i < b.length; i++) b[i] = (float) (lo + (hi - lo) * r.nextDouble());
            return b;
        };
    }

    /**
     * The example blurred by a Gaussian of {@code sigma} pixels over its first two dimensions (an image's height
     * and width; channels are blurred separately). Edges repeat the border value.
     */
    static Baseline blurred(double sigma) {
        if (!(sigma > 0)) throw new IllegalArgumentException("Baseline.blurred: sigma must be > 0, got " + sigma);
        return (x, shape) -> {
            if (shape.length < 2) {
                throw new dev.soma.errors.ShapeException("Baseline.blurred: needs an image [H, W] or [H, W, C], got "
                        + Arrays.toString(shape));
            }
            int h = (int) shape[0];
            int w = (int) shape[1];
            int c = x.length / (h * w);
            int radius = (int) Math.ceil(3 * sigma);
            double[] k = new double[2 * radius + 1];
            double total = 0;
            for (int i = -radius; i <= radius; i++) total += k[i + radius] = Math.exp(-i * i / (2 * sigma * sigma));
            for (int i = 0; i < k.length; i++) k[i] /= total;
            float[] rows = new float[x.length];
            float[] out = new float[x.length];
            for (int y = 0; y < h; y++) {
                for (int xx = 0; xx < w; xx++) {
                    for (int ch = 0; ch < c; ch++) {
                        double s = 0;
                        for (int d = -radius; d <= radius; d++) {
                            int xi = Math.max(0, Math.min(w - 1, xx + d));
                            s += k[d + radius] * x[(y * w + xi) * c + ch];
                        }
                        rows[(y * w + xx) * c + ch] = (float) s;
                    }
                }
            }
            for (int y = 0; y < h; y++) {
                for (int xx = 0; xx < w; xx++) {
                    for (int ch = 0; ch < c; ch++) {
                        double s = 0;
                        for (int d = -radius; d <= radius; d++) {
                            int yi = Math.max(0, Math.min(h - 1, y + d));
                            s += k[d + radius] * rows[(yi * w + xx) * c + ch];
                        }
                        out[(y * w + xx) * c + ch] = (float) s;
                    }
                }
            }
            return out;
        };
    }
}
