package dev.soma.ops;

import dev.soma.tensor.Tensor;

/**
 * Element-wise ops with NumPy broadcasting: arithmetic, powers, transcendental functions, activations,
 * comparisons (0/1 results of the inputs' dtype, no gradient) and where.
 */
public final class Elementwise {
    private Elementwise() {}

    public static Tensor add(Tensor a, Tensor b) {
        throw new UnsupportedOperationException("add: not implemented yet");
    }

    public static Tensor add(Tensor a, double b) {
        throw new UnsupportedOperationException("add: not implemented yet");
    }

    public static Tensor sub(Tensor a, Tensor b) {
        throw new UnsupportedOperationException("sub: not implemented yet");
    }

    public static Tensor sub(Tensor a, double b) {
        throw new UnsupportedOperationException("sub: not implemented yet");
    }

    public static Tensor mul(Tensor a, Tensor b) {
        throw new UnsupportedOperationException("mul: not implemented yet");
    }

    public static Tensor mul(Tensor a, double b) {
        throw new UnsupportedOperationException("mul: not implemented yet");
    }

    public static Tensor div(Tensor a, Tensor b) {
        throw new UnsupportedOperationException("div: not implemented yet");
    }

    public static Tensor div(Tensor a, double b) {
        throw new UnsupportedOperationException("div: not implemented yet");
    }

    public static Tensor pow(Tensor a, double exponent) {
        throw new UnsupportedOperationException("pow: not implemented yet");
    }

    public static Tensor pow(Tensor a, Tensor exponent) {
        throw new UnsupportedOperationException("pow: not implemented yet");
    }

    public static Tensor neg(Tensor a) {
        throw new UnsupportedOperationException("neg: not implemented yet");
    }

    public static Tensor exp(Tensor a) {
        throw new UnsupportedOperationException("exp: not implemented yet");
    }

    public static Tensor log(Tensor a) {
        throw new UnsupportedOperationException("log: not implemented yet");
    }

    public static Tensor sqrt(Tensor a) {
        throw new UnsupportedOperationException("sqrt: not implemented yet");
    }

    public static Tensor abs(Tensor a) {
        throw new UnsupportedOperationException("abs: not implemented yet");
    }

    public static Tensor tanh(Tensor a) {
        throw new UnsupportedOperationException("tanh: not implemented yet");
    }

    public static Tensor sigmoid(Tensor a) {
        throw new UnsupportedOperationException("sigmoid: not implemented yet");
    }

    public static Tensor relu(Tensor a) {
        throw new UnsupportedOperationException("relu: not implemented yet");
    }

    public static Tensor gelu(Tensor a) {
        throw new UnsupportedOperationException("gelu: not implemented yet");
    }

    public static Tensor leakyRelu(Tensor a, double alpha) {
        throw new UnsupportedOperationException("leakyRelu: not implemented yet");
    }

    public static Tensor clamp(Tensor a, double min, double max) {
        throw new UnsupportedOperationException("clamp: not implemented yet");
    }

    public static Tensor eq(Tensor a, Tensor b) {
        throw new UnsupportedOperationException("eq: not implemented yet");
    }

    public static Tensor ne(Tensor a, Tensor b) {
        throw new UnsupportedOperationException("ne: not implemented yet");
    }

    public static Tensor lt(Tensor a, Tensor b) {
        throw new UnsupportedOperationException("lt: not implemented yet");
    }

    public static Tensor le(Tensor a, Tensor b) {
        throw new UnsupportedOperationException("le: not implemented yet");
    }

    public static Tensor gt(Tensor a, Tensor b) {
        throw new UnsupportedOperationException("gt: not implemented yet");
    }

    public static Tensor ge(Tensor a, Tensor b) {
        throw new UnsupportedOperationException("ge: not implemented yet");
    }

    public static Tensor where(Tensor condition, Tensor a, Tensor b) {
        throw new UnsupportedOperationException("where: not implemented yet");
    }
}
