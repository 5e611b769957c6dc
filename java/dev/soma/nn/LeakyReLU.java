package dev.soma.nn;

import dev.soma.tensor.Tensor;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * {@code x} where {@code x >= 0}, {@code negativeSlope * x} elsewhere, as Keras 3's {@code LeakyReLU} layer, whose
 * default slope is 0.3 (the {@code "leaky_relu"} activation function's default is 0.2, as in Keras).
 */
public final class LeakyReLU extends Layer {
    public static final double DEFAULT_NEGATIVE_SLOPE = 0.3;

    private final double negativeSlope;

    public LeakyReLU() {
        this(DEFAULT_NEGATIVE_SLOPE);
    }

    public LeakyReLU(double negativeSlope) {
        if (!Double.isFinite(negativeSlope) || negativeSlope < 0) {
            throw new IllegalArgumentException("LeakyReLU: negative_slope must be a finite number >= 0, got " + negativeSlope);
        }
        this.negativeSlope = negativeSlope;
    }

    public double negativeSlope() {
        return negativeSlope;
    }

    @Override
    public String typeName() {
        return "leaky_re_lu";
    }

    @Override
    public long[] computeOutputShape(long[] in) {
        return in;
    }

    @Override
    protected Tensor call(Tensor x, boolean training) {
        return x.leakyRelu(negativeSlope);
    }

    /** Element-wise: the input's mask passes through (Keras' supports_masking). */
    @Override
    public Tensor computeMask(Tensor x, Tensor mask) {
        return mask;
    }

    @Override
    public Map<String, Object> config() {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("negative_slope", negativeSlope);
        return c;
    }
}
