package dev.soma.nn;

import dev.soma.errors.ShapeException;
import dev.soma.ops.TransposedConvolution;
import dev.soma.tensor.Tensor;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.UnaryOperator;

/**
 * Keras' Conv2DTranspose over channels-last input {@code [batch, height, width, channels]}:
 * {@code activation(conv2dTranspose(x, kernel) + bias)} with a kernel {@code [kh, kw, filters, in_channels]}
 * (Keras' layout). Output size per axis: valid {@code in * s + max(k - s, 0)}, same {@code in * s}. Defaults as
 * Keras: strides 1, padding "valid", no activation, a bias, glorot_uniform kernel and zero bias. No dilation
 * and no output_padding (see {@link TransposedConvolution}).
 */
public final class Conv2DTranspose extends Layer {
    private final int filters;
    private final int[] kernelSize;
    private final String activationName;
    private final UnaryOperator<Tensor> activation;
    private int[] strides = {1, 1};
    private String padding = "valid";
    private boolean useBias = true;
    private Initializer kernelInitializer = Initializer.glorotUniform();
    private Initializer biasInitializer = Initializer.zeros();
    private Regularizer kernelRegularizer;
    private Regularizer biasRegularizer;
    private Tensor kernel;
    private Tensor bias;

    /** A square {@code kernelSize x kernelSize} kernel, no activation. */
    public Conv2DTranspose(int filters, int kernelSize) {
        this(filters, new int[] {kernelSize, kernelSize}, null);
    }

    public Conv2DTranspose(int filters, int kernelSize, String activation) {
        this(filters, new int[] {kernelSize, kernelSize}, activation);
    }

    /** {@code kernelSize}: (height, width); {@code activation}: a Keras name or null for none. */
    public Conv2DTranspose(int filters, int[] kernelSize, String activation) {
        if (filters <= 0) throw new ShapeException("Conv2DTranspose: filters must be > 0, got " + filters);
        this.filters = filters;
        this.kernelSize = Pooling2D.positivePair("Conv2DTranspose", "kernel size", kernelSize);
        this.activationName = activation == null ? "linear" : activation;
        this.activation = Activations.get(activation);
    }

    public Conv2DTranspose strides(int s) {
        return strides(s, s);
    }

    public Conv2DTranspose strides(int sh, int sw) {
        this.strides = Pooling2D.positivePair("Conv2DTranspose", "strides", new int[] {sh, sw});
        return this;
    }

    /** "valid" (default) or "same". */
    public Conv2DTranspose padding(String p) {
        this.padding = Pooling2D.paddingName("Conv2DTranspose", p);
        return this;
    }

    public Conv2DTranspose useBias(boolean on) {
        this.useBias = on;
        return this;
    }

    public Conv2DTranspose kernelInitializer(Initializer init) {
        this.kernelInitializer = init;
        return this;
    }

    public Conv2DTranspose biasInitializer(Initializer init) {
        this.biasInitializer = init;
        return this;
    }

    public Conv2DTranspose kernelRegularizer(Regularizer r) {
        this.kernelRegularizer = r;
        return this;
    }

    public Conv2DTranspose biasRegularizer(Regularizer r) {
        this.biasRegularizer = r;
        return this;
    }

    @Override
    public String typeName() {
        return "conv2d_transpose";
    }

    @Override
    public long[] computeOutputShape(long[] in) {
        return TransposedConvolution.outputShape(name(), in, kernelSize, filters, strides, padding);
    }

    @Override
    protected void createParams(long[] in, SplittableRandom rng) {
        long channels = in[2];
        long receptive = (long) kernelSize[0] * kernelSize[1];
        // Keras computes fans from the kernel shape [kh, kw, filters, in]: fan_in = kh*kw*filters.
        long fanIn = receptive * filters;
        long fanOut = receptive * channels;
        kernel = addParam("kernel", new long[] {kernelSize[0], kernelSize[1], filters, channels}, kernelInitializer,
                kernelRegularizer, true, fanIn, fanOut, rng);
        if (useBias) bias = addParam("bias", new long[] {filters}, biasInitializer, biasRegularizer, true, fanIn, fanOut, rng);
    }

    @Override
    protected Tensor call(Tensor x, boolean training) {
        return activation.apply(TransposedConvolution.conv2dTranspose(x, kernel, bias, strides, padding));
    }

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
        c.put("activation", activationName);
        c.put("use_bias", useBias);
        return c;
    }

    /** Rebuilds a layer from {@link #config()} (checkpoints). */
    static Conv2DTranspose fromConfig(Map<String, Object> c) {
        int[] k = Conv2D.pairOf(c, "kernel_size");
        int[] s = Conv2D.pairOf(c, "strides");
        return new Conv2DTranspose(LayerRegistry.intOf(c, "filters"), k, (String) c.get("activation"))
                .strides(s[0], s[1])
                .padding((String) c.get("padding"))
                .useBias(LayerRegistry.boolOf(c, "use_bias"));
    }

    @Override
    public String toString() {
        return name() + " " + Arrays.toString(outputShape());
    }
}
