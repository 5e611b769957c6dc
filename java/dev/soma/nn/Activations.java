package dev.soma.nn;

import dev.soma.tensor.Tensor;

import java.util.function.UnaryOperator;

/** Activation functions by Keras name. */
public final class Activations {
    private Activations() {}

    /** "relu", "leaky_relu" (alpha 0.2, as Keras 3), "tanh", "sigmoid", "softmax" (last axis), "gelu", "linear". */
    public static UnaryOperator<Tensor> get(String name) {
        if (name == null) return x -> x;
        return switch (name) {
            case "linear", "none" -> x -> x;
            case "relu" -> Tensor::relu;
            case "leaky_relu" -> x -> x.leakyRelu(0.2);
            case "tanh" -> Tensor::tanh;
            case "sigmoid" -> Tensor::sigmoid;
            case "softmax" -> x -> x.softmax(-1);
            case "gelu" -> Tensor::gelu;
            default -> throw new IllegalArgumentException("unknown activation '" + name
                    + "': expected relu, leaky_relu, tanh, sigmoid, softmax, gelu or linear");
        };
    }
}
