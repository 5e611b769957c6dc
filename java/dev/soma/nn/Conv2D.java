package dev.soma.nn;

import dev.soma.memory.FailureCleanup;
import dev.soma.ops.Convolution;
import dev.soma.ops.ConvolutionPooling;
import dev.soma.tensor.Tensor;

import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * 2-d convolution over channels-last input {@code [batch, height, width, channels]}, as Keras' Conv2D:
 * {@code activation(conv2d(x, kernel) + bias)} with a kernel {@code [kh, kw, in_channels, filters]}.
 * Defaults as Keras: strides 1, padding "valid", dilation 1, no activation, a bias, glorot_uniform kernel and
 * zero bias. With activation "relu" the forward runs as one op (conv2dRelu); NaN stays NaN through it, as in PyTorch.
 */
public final class Conv2D extends ConvLayer2D<Conv2D> implements FoldableActivation {
    private int[] dilation = {1, 1};

    /** A square {@code kernelSize x kernelSize} kernel, no activation. */
    public Conv2D(int filters, int kernelSize) {
        this(filters, new int[] {kernelSize, kernelSize}, null);
    }

    public Conv2D(int filters, int kernelSize, String activation) {
        this(filters, new int[] {kernelSize, kernelSize}, activation);
    }

    /** {@code kernelSize}: (height, width); {@code activation}: a Keras name or null for none. */
    public Conv2D(int filters, int[] kernelSize, String activation) {
        super(filters, kernelSize, activation);
    }

    public Conv2D dilation(int d) {
        return dilation(d, d);
    }

    public Conv2D dilation(int dh, int dw) {
        this.dilation = Pooling2D.positivePair("Conv2D", "dilation", new int[] {dh, dw});
        return this;
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
        if (activationName.equals("relu") && dev.soma.privacy.GhostTape.active() == null) {
            return Convolution.conv2dRelu(x, kernel, bias, strides, padding, dilation);
        }
        return activation.apply(callWithoutActivation(x, training));
    }

    /**
     * Whether {@link #applyWithMaxPool} can run this layer and {@code pool} on {@code x}: this layer's activation is
     * ReLU, DP-SGD's ghost norms are off, and both layers are built for exactly x's and this layer's output shapes.
     */
    public boolean fusesWithMaxPool(MaxPooling2D pool, Tensor x) {
        return activationName.equals("relu") && dev.soma.privacy.GhostTape.active() == null && isBuilt()
                && pool.isBuilt() && x != null && x.ndim() == 4
                && Arrays.equals(Arrays.copyOfRange(x.shape(), 1, 4), inputShape())
                && Arrays.equals(pool.inputShape(), outputShape());
    }

    /**
     * This layer and then {@code pool}, as one op ({@link ConvolutionPooling}): what a Sequential runs for the pair
     * when {@link #fusesWithMaxPool} allows it. The result equals {@code pool.apply(apply(x))}'s.
     */
    public Tensor applyWithMaxPool(Tensor x, MaxPooling2D pool, boolean training) {
        prepareInput(x);
        return FailureCleanup.run(() -> ConvolutionPooling.conv2dReluMaxPool(x, kernel, bias, strides, padding, dilation,
                pool.poolSize, pool.strides, pool.padding));
    }

    @Override
    public Tensor callWithoutActivation(Tensor x, boolean training) {
        dev.soma.privacy.GhostTape tape = dev.soma.privacy.GhostTape.active();
        if (tape != null && training) return tape.conv2d(x, kernel, bias, strides, padding, dilation); // DP-SGD ghost norms
        return Convolution.conv2d(x, kernel, bias, strides, padding, dilation);
    }

    @Override
    public Map<String, Object> config() {
        Map<String, Object> c = super.config();
        c.put("dilation_rate", List.of(dilation[0], dilation[1]));
        return c;
    }

    /** Rebuilds a layer from {@link #config()} (checkpoints). */
    static Conv2D fromConfig(Map<String, Object> c) {
        int[] d = pairOf(c, "dilation_rate");
        return configure(new Conv2D(LayerRegistry.intOf(c, "filters"), pairOf(c, "kernel_size"),
                (String) c.get("activation")), c).dilation(d[0], d[1]);
    }
}
