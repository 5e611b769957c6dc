package dev.soma.explain;

import java.util.Arrays;

/**
 * One example's attribution: a value per input element (same shape as the example), the target's score on the
 * example, and, for Integrated Gradients, Captum's convergence delta
 * {@code sum(attributions) - (F(x) - F(baseline))} (NaN for methods without a completeness property).
 */
public record Attribution(String method, long[] shape, float[] values, double score, double delta) {
    public Attribution {
        shape = shape.clone();
    }

    /** Sum of all attributions. */
    public double sum() {
        double s = 0;
        for (float v : values) s += v;
        return s;
    }

    /** {@code |delta|} relative to {@code |F(x) - F(baseline)|}: the completeness error as a fraction. */
    public double relativeDelta() {
        double expected = sum() - delta;
        return Math.abs(delta) / Math.max(Math.abs(expected), 1e-12);
    }

    /**
     * Sums over the last {@code trailingDims} dimensions: per pixel over channels ({@code 1} for [H, W, C]), per
     * token over the embedding ({@code 1} for [T, D]).
     */
    public float[] sumOverTrailing(int trailingDims) {
        if (trailingDims < 0 || trailingDims >= shape.length) {
            throw new IllegalArgumentException("Attribution.sumOverTrailing: " + trailingDims + " trailing dims of a "
                    + shape.length + "-d attribution " + Arrays.toString(shape));
        }
        int inner = 1;
        for (int i = shape.length - trailingDims; i < shape.length; i++) inner *= (int) shape[i];
        float[] out = new float[values.length / inner];
        for (int i = 0; i < out.length; i++) {
            double s = 0;
            for (int k = 0; k < inner; k++) s += values[i * inner + k];
            out[i] = (float) s;
        }
        return out;
    }
}
