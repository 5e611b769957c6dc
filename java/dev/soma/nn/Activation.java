package dev.soma.nn;

import dev.soma.tensor.Tensor;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.UnaryOperator;

/** Applies an activation function by name (see {@link Activations}). */
public final class Activation extends Layer implements FoldableActivation {
    private final String activationName;
    private final UnaryOperator<Tensor> fn;

    public Activation(String activation) {
        this.activationName = activation;
        this.fn = Activations.get(activation);
    }

    @Override
    public String typeName() {
        return "activation";
    }

    @Override
    public long[] computeOutputShape(long[] in) {
        return in;
    }

    @Override
    protected Tensor call(Tensor x, boolean training) {
        return fn.apply(x);
    }

    @Override
    public String activationName() {
        return activationName;
    }

    @Override
    public Tensor callWithoutActivation(Tensor x, boolean training) {
        return x;
    }

    /** Element-wise: the input's mask passes through (Keras' supports_masking). */
    @Override
    public Tensor computeMask(Tensor x, Tensor mask) {
        return mask;
    }

    @Override
    public Map<String, Object> config() {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("activation", activationName);
        return c;
    }
}
