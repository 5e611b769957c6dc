package dev.soma.nn;

import dev.soma.backend.ElementwiseKernels.BiasActivation;
import dev.soma.tensor.Tensor;

import java.util.function.UnaryOperator;

/** Activation functions by Keras name. */
public final class Activations {
    private Activations() {}

    /** Keras 3's default slope of "leaky_relu". */
    public static final double LEAKY_RELU_ALPHA = 0.2;

    /** "relu", "leaky_relu" (alpha 0.2, as Keras 3), "tanh", "sigmoid", "softmax" (last axis), "gelu", "linear". */
    public static UnaryOperator<Tensor> get(String name) {
        if (name == null) return x -> x;
        return switch (name) {
            case "linear", "none" -> x -> x;
            case "relu" -> Tensor::relu;
            case "leaky_relu" -> x -> x.leakyRelu(LEAKY_RELU_ALPHA);
            case "tanh" -> Tensor::tanh;
            case "sigmoid" -> Tensor::sigmoid;
            case "softmax" -> x -> x.softmax(-1);
            case "gelu" -> Tensor::gelu;
            default -> throw new IllegalArgumentException("unknown activation '" + name
                    + "': expected relu, leaky_relu, tanh, sigmoid, softmax, gelu or linear");
        };
    }

    /**
     * The activation as a fused bias epilogue ({@link dev.soma.ops.BiasActivation}, with
     * {@link #LEAKY_RELU_ALPHA} for leaky relu), or null where none exists (softmax: a row op, not element-wise).
     */
    public static BiasActivation fused(String name) {
        if (name == null) return BiasActivation.LINEAR;
        return switch (name) {
            case "linear", "none" -> BiasActivation.LINEAR;
            case "relu" -> BiasActivation.RELU;
            case "leaky_relu" -> BiasActivation.LEAKY_RELU;
            case "tanh" -> BiasActivation.TANH;
            case "sigmoid" -> BiasActivation.SIGMOID;
            case "gelu" -> BiasActivation.GELU;
            default -> null;
        };
    }
}
