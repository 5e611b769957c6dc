package dev.soma.nn;

import dev.soma.errors.ShapeException;
import dev.soma.ops.Normalization;
import dev.soma.tensor.Tensor;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Layer normalisation over the last axis, as Keras' LayerNormalization (epsilon 1e-3, centre and scale on):
 * one fused native op ({@link Normalization#layerNorm}).
 */
public final class LayerNormalization extends Layer {
    private final double epsilon;
    private boolean center = true;
    private boolean scale = true;
    private Tensor gamma;
    private Tensor beta;

    public LayerNormalization() {
        this(1e-3);
    }

    public LayerNormalization(double epsilon) {
        if (!(epsilon > 0) || Double.isInfinite(epsilon)) { // infinite: every output 0, silently
            throw new IllegalArgumentException("LayerNormalization: epsilon must be finite and > 0, got " + epsilon);
        }
        this.epsilon = epsilon;
    }

    /** Adds beta (default on). */
    public LayerNormalization center(boolean on) {
        this.center = on;
        return this;
    }

    /** Multiplies by gamma (default on). */
    public LayerNormalization scale(boolean on) {
        this.scale = on;
        return this;
    }

    @Override
    public String typeName() {
        return "layer_normalization";
    }

    @Override
    public long[] computeOutputShape(long[] in) {
        if (in.length == 0 || in[in.length - 1] <= 0) {
            throw new ShapeException(name() + ": input needs a non-empty feature axis, got " + java.util.Arrays.toString(in));
        }
        return in;
    }

    @Override
    protected void createParams(long[] in, SplittableRandom rng) {
        long[] c = {in[in.length - 1]};
        if (scale) gamma = addParam("gamma", c, Initializer.ones(), null, true, c[0], c[0], rng);
        if (center) beta = addParam("beta", c, Initializer.zeros(), null, true, c[0], c[0], rng);
    }

    @Override
    protected Tensor call(Tensor x, boolean training) {
        dev.soma.privacy.GhostTape tape = dev.soma.privacy.GhostTape.active();
        if (tape != null && training) return tape.layerNorm(x, gamma, beta, epsilon); // DP-SGD ghost norms
        return Normalization.layerNorm(x, gamma, beta, epsilon);
    }

    /** Normalises each step on its own: the input's mask passes through. */
    @Override
    public Tensor computeMask(Tensor x, Tensor mask) {
        return mask;
    }

    @Override
    public Map<String, Object> config() {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("epsilon", epsilon);
        c.put("center", center);
        c.put("scale", scale);
        return c;
    }
}
