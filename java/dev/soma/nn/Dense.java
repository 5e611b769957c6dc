package dev.soma.nn;

import dev.soma.backend.ElementwiseKernels.BiasActivation;
import dev.soma.errors.ShapeException;
import dev.soma.tensor.Tensor;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.UnaryOperator;

/**
 * Fully connected: {@code activation(x · kernel + bias)} over the last axis, as Keras' Dense. With a bias and an
 * element-wise activation, bias and activation run as one fused op ({@link dev.soma.ops.BiasActivation}): one
 * kernel after the matmul forward, one before it backward. Without an activation (or with softmax, which runs
 * apart) the bias is added inside the product ({@link dev.soma.ops.Linalg#matmulBias}).
 */
public final class Dense extends Layer implements FoldableActivation {
    private final int units;
    private final String activationName;
    private final UnaryOperator<Tensor> activation;
    /** The fused bias epilogue of the activation, or null (softmax) to run add and activation apart. */
    private final BiasActivation fused;
    private boolean useBias = true;
    private Initializer kernelInitializer = Initializer.glorotUniform();
    private Initializer biasInitializer = Initializer.zeros();
    private Regularizer kernelRegularizer;
    private Regularizer biasRegularizer;
    private Tensor kernel;
    private Tensor bias;

    public Dense(int units) {
        this(units, null);
    }

    public Dense(int units, String activation) {
        if (units <= 0) throw new IllegalArgumentException("Dense: units must be > 0, got " + units);
        this.units = units;
        this.activationName = activation == null ? "linear" : activation;
        this.activation = Activations.get(activation);
        this.fused = Activations.fused(activation);
    }

    public Dense useBias(boolean on) {
        this.useBias = on;
        return this;
    }

    public Dense kernelInitializer(Initializer init) {
        this.kernelInitializer = init;
        return this;
    }

    public Dense biasInitializer(Initializer init) {
        this.biasInitializer = init;
        return this;
    }

    public Dense kernelRegularizer(Regularizer r) {
        this.kernelRegularizer = r;
        return this;
    }

    public Dense biasRegularizer(Regularizer r) {
        this.biasRegularizer = r;
        return this;
    }

    @Override
    public String typeName() {
        return "dense";
    }

    @Override
    public long[] computeOutputShape(long[] in) {
        if (in.length == 0) throw new ShapeException(name() + ": input needs at least one feature axis, got []");
        long[] out = in.clone();
        out[out.length - 1] = units;
        return out;
    }

    @Override
    protected void createParams(long[] in, SplittableRandom rng) {
        long features = in[in.length - 1];
        kernel = addParam("kernel", new long[] {features, units}, kernelInitializer, kernelRegularizer, true,
                features, units, rng);
        if (useBias) bias = addParam("bias", new long[] {units}, biasInitializer, biasRegularizer, true, features, units, rng);
    }

    @Override
    protected Tensor call(Tensor x, boolean training) {
        // The fused epilogue, except under DP-SGD's ghost tape, which records the pre-activation output itself.
        boolean ghost = training && dev.soma.privacy.GhostTape.active() != null;
        if (bias != null && fused == BiasActivation.LINEAR && !ghost) return callWithoutActivation(x, training);
        if (bias != null && fused != null && !ghost) {
            return dev.soma.ops.BiasActivation.apply(x.matmul(kernel), bias, fused, Activations.LEAKY_RELU_ALPHA);
        }
        return activation.apply(callWithoutActivation(x, training));
    }

    @Override
    public Tensor callWithoutActivation(Tensor x, boolean training) {
        dev.soma.privacy.GhostTape tape = dev.soma.privacy.GhostTape.active();
        if (tape != null && training) return tape.dense(x, kernel, bias); // DP-SGD's ghost-norm step
        if (bias == null) return x.matmul(kernel);
        // The bias inside the product where the backend can (no pass of its own over y).
        return x.ndim() >= 2 ? dev.soma.ops.Linalg.matmulBias(x, kernel, bias) : x.matmul(kernel).add(bias);
    }

    @Override
    public String activationName() {
        return activationName;
    }

    public Tensor kernel() {
        return kernel;
    }

    public Tensor bias() {
        return bias;
    }

    /** Works on the last axis, step by step: the input's mask passes through (Keras' supports_masking). */
    @Override
    public Tensor computeMask(Tensor x, Tensor mask) {
        return mask;
    }

    @Override
    public Map<String, Object> config() {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("units", units);
        c.put("activation", activationName);
        c.put("use_bias", useBias);
        Regularizer.putConfig(c, "kernel_regularizer", kernelRegularizer);
        Regularizer.putConfig(c, "bias_regularizer", biasRegularizer);
        return c;
    }

    @Override
    public String toString() {
        return name() + " " + Arrays.toString(outputShape());
    }
}
