package dev.soma.nn;

import dev.soma.backend.ElementwiseKernels.BiasActivation;
import dev.soma.ops.TransposedConvolution;
import dev.soma.tensor.Tensor;

import java.util.Map;
import java.util.SplittableRandom;

/**
 * Keras' Conv2DTranspose over channels-last input {@code [batch, height, width, channels]}:
 * {@code activation(conv2dTranspose(x, kernel) + bias)} with a kernel {@code [kh, kw, filters, in_channels]}
 * (Keras' layout). Output size per axis: valid {@code in * s + max(k - s, 0)}, same {@code in * s}. Defaults as
 * Keras: strides 1, padding "valid", no activation, a bias, glorot_uniform kernel and zero bias. No dilation
 * and no output_padding (see {@link TransposedConvolution}).
 */
public final class Conv2DTranspose extends ConvLayer2D<Conv2DTranspose> {
    /** A square {@code kernelSize x kernelSize} kernel, no activation. */
    public Conv2DTranspose(int filters, int kernelSize) {
        this(filters, new int[] {kernelSize, kernelSize}, null);
    }

    public Conv2DTranspose(int filters, int kernelSize, String activation) {
        this(filters, new int[] {kernelSize, kernelSize}, activation);
    }

    /** {@code kernelSize}: (height, width); {@code activation}: a Keras name or null for none. */
    public Conv2DTranspose(int filters, int[] kernelSize, String activation) {
        super(filters, kernelSize, activation);
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
        // The op would add the bias by a broadcasting add; with an element-wise activation both run as one fused op.
        BiasActivation fused = Activations.fused(activationName);
        if (bias != null && fused != null) {
            Tensor y = TransposedConvolution.conv2dTranspose(x, kernel, null, strides, padding);
            return dev.soma.ops.BiasActivation.apply(y, bias, fused, Activations.LEAKY_RELU_ALPHA);
        }
        return activation.apply(TransposedConvolution.conv2dTranspose(x, kernel, bias, strides, padding));
    }

    /** Rebuilds a layer from {@link #config()} (checkpoints). */
    static Conv2DTranspose fromConfig(Map<String, Object> c) {
        return configure(new Conv2DTranspose(LayerRegistry.intOf(c, "filters"), pairOf(c, "kernel_size"),
                (String) c.get("activation")), c);
    }
}
