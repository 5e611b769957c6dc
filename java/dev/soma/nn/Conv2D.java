package dev.soma.nn;

import dev.soma.errors.ShapeException;
import dev.soma.ops.Convolution;
import dev.soma.tensor.Tensor;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.UnaryOperator;

/**
 * 2-d convolution over channels-last input {@code [batch, height, width, channels]}, as Keras' Conv2D:
 * {@code activation(conv2d(x, kernel) + bias)} with a kernel {@code [kh, kw, in_channels, filters]}.
 * Defaults as Keras: strides 1, padding "valid", dilation 1, no activation, a bias, glorot_uniform kernel and
 * zero bias. With activation "relu" the forward runs as one fused oneDNN pass.
 */
public final class Conv2D extends Layer implements FoldableActivation {
    private final int filters;
    private final int[] kernelSize;
    private final String activationName;
    private final UnaryOperator<Tensor> activation;
    private int[] strides = {1, 1};
    private String padding = "valid";
    private int[] dilation = {1, 1};
    private boolean useBias = true;
    private Initializer kernelInitializer = Initializer.glorotUniform();
    private Initializer biasInitializer = Initializer.zeros();
    private Regularizer kernelRegularizer;
    private Regularizer biasRegularizer;
    private Tensor kernel;
    private Tensor bias;

    /** A square {@code kernelSize x kernelSize} kernel, no activation. */
    public Conv2D(int filters, int kernelSize) {
        this(filters, new int[] {kernelSize, kernelSize}, null);
    }

    public Conv2D(int filters, int kernelSize, String activation) {
        this(filters, new int[] {kernelSize, kernelSize}, activation);
    }

    /** {@code kernelSize}: (height, width); {@code activation}: a Keras name or null for none. */
    public Conv2D(int filters, int[] kernelSize, String activation) {
        if (filters <= 0) throw new ShapeException("Conv2D: filters must be > 0, got " + filters);
        this.filters = filters;
        this.kernelSize = positivePair("kernel size", kernelSize);
        this.activationName = activation == null ? "linear" : activation;
        this.activation = Activations.get(activation);
    }

    public Conv2D strides(int s) {
        return strides(s, s);
    }

    public Conv2D strides(int sh, int sw) {
        this.strides = positivePair("strides", new int[] {sh, sw});
        return this;
    }

    /** "valid" (default) or "same". */
    public Conv2D padding(String p) {
        this.padding = Pooling2D.paddingName("Conv2D", p);
        return this;
    }

    public Conv2D dilation(int d) {
        return dilation(d, d);
    }

    public Conv2D dilation(int dh, int dw) {
        this.dilation = positivePair("dilation", new int[] {dh, dw});
        return this;
    }

    public Conv2D useBias(boolean on) {
        this.useBias = on;
        return this;
    }

    public Conv2D kernelInitializer(Initializer init) {
        this.kernelInitializer = init;
        return this;
    }

    public Conv2D biasInitializer(Initializer init) {
        this.biasInitializer = init;
        return this;
    }

    public Conv2D kernelRegularizer(Regularizer r) {
        this.kernelRegularizer = r;
        return this;
    }

    public Conv2D biasRegularizer(Regularizer r) {
        this.biasRegularizer = r;
        return this;
    }

    private static int[] positivePair(String what, int[] v) {
        return Pooling2D.positivePair("Conv2D", what, v);
    }

    @Override
    public String typeName() {
        return "conv2d";
    }

    @Override
    public long[] computeOutputShape(long[] in) {
        return Convolution.outputShape(name(), in, kernelSize, filters, strides, padding, dilation);
    }

    @Override
    protected void createParams(long[] in, SplittableRandom rng) {
        long channels = in[2];
        long receptive = (long) kernelSize[0] * kernelSize[1];
        long fanIn = receptive * channels;
        long fanOut = receptive * filters;
        kernel = addParam("kernel", new long[] {kernelSize[0], kernelSize[1], channels, filters}, kernelInitializer,
                kernelRegularizer, true, fanIn, fanOut, rng);
        if (useBias) bias = addParam("bias", new long[] {filters}, biasInitializer, biasRegularizer, true, fanIn, fanOut, rng);
    }

    @Override
    protected Tensor call(Tensor x, boolean training) {
        if (activationName.equals("relu")) {
            return Convolution.conv2dRelu(x, kernel, bias, strides, padding, dilation);
        }
        return activation.apply(callWithoutActivation(x, training));
    }

    @Override
    public Tensor callWithoutActivation(Tensor x, boolean training) {
        return Convolution.conv2d(x, kernel, bias, strides, padding, dilation);
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

    @Override
    public Map<String, Object> config() {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("filters", filters);
        c.put("kernel_size", List.of(kernelSize[0], kernelSize[1]));
        c.put("strides", List.of(strides[0], strides[1]));
        c.put("padding", padding);
        c.put("dilation_rate", List.of(dilation[0], dilation[1]));
        c.put("activation", activationName);
        c.put("use_bias", useBias);
        return c;
    }

    /** Rebuilds a layer from {@link #config()} (checkpoints). */
    static Conv2D fromConfig(Map<String, Object> c) {
        int[] k = pairOf(c, "kernel_size");
        int[] s = pairOf(c, "strides");
        int[] d = pairOf(c, "dilation_rate");
        return new Conv2D(LayerRegistry.intOf(c, "filters"), k, (String) c.get("activation"))
                .strides(s[0], s[1])
                .padding((String) c.get("padding"))
                .dilation(d[0], d[1])
                .useBias(LayerRegistry.boolOf(c, "use_bias"));
    }

    /** A (height, width) pair from a layer config; shared with the pooling layers. */
    static int[] pairOf(Map<String, Object> c, String key) {
        long[] v = LayerRegistry.longsOf(c, key);
        if (v.length != 2 || v[0] != (int) v[0] || v[1] != (int) v[1]) {
            throw new IllegalArgumentException("layer config: '" + key + "' must be two ints, got " + Arrays.toString(v));
        }
        return new int[] {(int) v[0], (int) v[1]};
    }

    @Override
    public String toString() {
        return name() + " " + Arrays.toString(outputShape());
    }
}
