package dev.soma.nn;

import java.util.SplittableRandom;

/**
 * Weight initialisers with Keras' names and formulas. Values are drawn in Java from the model's seeded
 * generator (initialisation runs once; reproducibility matters more than speed here).
 */
@FunctionalInterface
public interface Initializer {
    /** Fills {@code out} (the weight's elements, row-major) given the weight's fan-in and fan-out. */
    void fill(double[] out, long fanIn, long fanOut, SplittableRandom rng);

    static Initializer zeros() {
        return (out, fi, fo, rng) -> java.util.Arrays.fill(out, 0);
    }

    static Initializer ones() {
        return (out, fi, fo, rng) -> java.util.Arrays.fill(out, 1);
    }

    static Initializer constant(double v) {
        return (out, fi, fo, rng) -> java.util.Arrays.fill(out, v);
    }

    static Initializer randomUniform(double lo, double hi) {
        return (out, fi, fo, rng) -> {
            for (int i = 0; i < out.length; i++) out[i] = lo + (hi - lo) * rng.nextDouble();
        };
    }

    static Initializer randomNormal(double mean, double std) {
        return (out, fi, fo, rng) -> {
            for (int i = 0; i < out.length; i++) out[i] = mean + std * rng.nextGaussian();
        };
    }

    /** Normal truncated at two standard deviations (redrawn), as Keras' TruncatedNormal. */
    static Initializer truncatedNormal(double std) {
        return (out, fi, fo, rng) -> {
            for (int i = 0; i < out.length; i++) {
                double z;
                do {
                    z = rng.nextGaussian();
                } while (Math.abs(z) > 2);
                out[i] = std * z;
            }
        };
    }

    /** Variance scaling: scale / n with n = fan_in, fan_out or their mean; uniform or truncated normal. */
    static Initializer varianceScaling(double scale, String mode, boolean uniform) {
        return (out, fi, fo, rng) -> {
            double n = switch (mode) {
                case "fan_in" -> fi;
                case "fan_out" -> fo;
                case "fan_avg" -> (fi + fo) / 2.0;
                default -> throw new IllegalArgumentException("varianceScaling: unknown mode " + mode);
            };
            double variance = scale / Math.max(1.0, n);
            if (uniform) {
                double limit = Math.sqrt(3 * variance);
                randomUniform(-limit, limit).fill(out, fi, fo, rng);
            } else {
                // 0.8796... is the std of a unit normal truncated at +-2 (Keras' correction).
                truncatedNormal(Math.sqrt(variance) / 0.87962566103423978).fill(out, fi, fo, rng);
            }
        };
    }

    static Initializer glorotUniform() {
        return varianceScaling(1, "fan_avg", true);
    }

    static Initializer glorotNormal() {
        return varianceScaling(1, "fan_avg", false);
    }

    static Initializer heNormal() {
        return varianceScaling(2, "fan_in", false);
    }

    static Initializer heUniform() {
        return varianceScaling(2, "fan_in", true);
    }

    static Initializer lecunNormal() {
        return varianceScaling(1, "fan_in", false);
    }

    /**
     * Keras' Orthogonal (gain 1): a Gaussian matrix of shape (fanIn rows, the rest as columns) orthonormalised
     * (Gram-Schmidt along its shorter side), so recurrent kernels neither grow nor shrink the state at first.
     */
    static Initializer orthogonal() {
        return (out, fi, fo, rng) -> {
            int rows = (int) Math.max(1, fi);
            int cols = out.length / rows;
            boolean byRows = rows <= cols;
            int vecs = byRows ? rows : cols;
            int len = byRows ? cols : rows;
            double[][] v = new double[vecs][len];
            for (double[] a : v) for (int i = 0; i < len; i++) a[i] = rng.nextGaussian();
            for (int i = 0; i < vecs; i++) {
                for (int j = 0; j < i; j++) {
                    double dot = 0;
                    for (int k = 0; k < len; k++) dot += v[i][k] * v[j][k];
                    for (int k = 0; k < len; k++) v[i][k] -= dot * v[j][k];
                }
                double norm = 0;
                for (int k = 0; k < len; k++) norm += v[i][k] * v[i][k];
                norm = Math.sqrt(norm);
                for (int k = 0; k < len; k++) v[i][k] /= norm;
            }
            for (int r = 0; r < rows; r++)
                for (int c = 0; c < cols; c++) out[r * cols + c] = byRows ? v[r][c] : v[c][r];
        };
    }

    /** By Keras name: "glorot_uniform", "he_normal", "zeros", ... */
    static Initializer byName(String name) {
        return switch (name) {
            case "zeros" -> zeros();
            case "ones" -> ones();
            case "glorot_uniform" -> glorotUniform();
            case "glorot_normal" -> glorotNormal();
            case "he_normal" -> heNormal();
            case "he_uniform" -> heUniform();
            case "lecun_normal" -> lecunNormal();
            case "orthogonal" -> orthogonal();
            default -> throw new IllegalArgumentException("unknown initializer '" + name + "': expected zeros, ones, "
                    + "glorot_uniform, glorot_normal, he_normal, he_uniform or lecun_normal");
        };
    }
}
