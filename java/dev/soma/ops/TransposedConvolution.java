package dev.soma.ops;

import dev.soma.autograd.Autograd;
import dev.soma.backend.ConvKernels;
import dev.soma.errors.ShapeException;
import dev.soma.tensor.DType;
import dev.soma.tensor.Tensor;

/**
 * 2-d transposed convolution as Keras' Conv2DTranspose computes it: channels-last input {@code x [N, H, W, C]},
 * kernel {@code [KH, KW, F, C]} (Keras' layout: filters before input channels), optional bias {@code [F]},
 * strides, padding "valid" or "same". Output {@code [N, OH, OW, F]} with Keras' sizes
 * ({@code deconv_output_length} without output_padding): valid {@code OH = H * s + max(KH - s, 0)} (that is
 * {@code (H - 1) * s + KH} when {@code KH >= s}), same {@code OH = H * s}.
 *
 * <p>It is the adjoint of {@link Convolution#conv2d}: take the convolution of an image {@code [N, OH, OW, F]}
 * with the same kernel read as HWIO {@code [KH, KW, F, C]} and the same strides and padding, whose output is
 * {@code [N, H, W, C]}. Its backward-data pass is this op's forward, its forward is this op's input gradient,
 * and its backward-weights pass with the roles of image and output gradient swapped is this op's kernel
 * gradient. That is how TensorFlow defines conv2d_transpose (the gradient of conv2d for the input shape
 * {@code [N, OH, OW, F]}), so the "same" padding split is TensorFlow's for that convolution: total
 * {@code max(KH - s, 0)}, the odd pixel at the bottom/right. Dilation and output_padding are not supported.
 * The bias is added afterwards by a broadcasting add.
 */
public final class TransposedConvolution {
    private static final String OP = "conv2dTranspose";

    private TransposedConvolution() {}

    /** Stride 1 in both directions. */
    public static Tensor conv2dTranspose(Tensor x, Tensor kernel, Tensor bias, String padding) {
        return conv2dTranspose(x, kernel, bias, new int[] {1, 1}, padding);
    }

    /** The transposed convolution of {@code x} with {@code kernel} plus {@code bias} (null: none). */
    public static Tensor conv2dTranspose(Tensor x, Tensor kernel, Tensor bias, int[] strides, String padding) {
        ConvKernels.Geometry g = geometry(x, kernel, bias, strides, padding);
        // g describes the adjoint convolution: its input is our output, its output our input.
        Tensor out = Tensor.empty(x.dtype(), x.device(), g.n(), g.h(), g.w(), g.c());
        if (g.n() > 0) {
            Tensor xd = Convolution.dense(x);
            Tensor kd = Convolution.dense(kernel);
            try {
                x.backend().conv().conv2dBackwardData(g, xd, kd, out);
            } finally {
                xd.close();
                kd.close();
            }
        }
        Tensor y = Autograd.record(OP, out, grad -> backward(g, x, kernel, grad), x, kernel);
        return bias == null ? y : Elementwise.add(y, bias);
    }

    /**
     * The implementations of this op's forward, input-gradient and kernel-gradient passes for this call (the
     * adjoint convolution's backward-data, forward and backward-weights passes); computes nothing.
     */
    public static String[] implementations(Tensor x, Tensor kernel, int[] strides, String padding) {
        ConvKernels.Geometry g = geometry(x, kernel, null, strides, padding);
        String[] conv = x.backend().conv().conv2dImplementations(g, x.dtype(), false);
        return new String[] {conv[1], conv[0], conv[2]};
    }

    /**
     * The per-example output shape {@code [OH, OW, filters]} of an input {@code [H, W, C]} (layers' shape
     * inference); {@code who} names the caller in messages.
     */
    public static long[] outputShape(String who, long[] input, int[] kernelSize, long filters, int[] strides,
                                     String padding) {
        String in = "[batch, " + Convolution.join(input) + "]";
        if (input.length != 3) {
            throw new ShapeException(who + ": input " + in + " has rank " + (input.length + 1)
                    + ", expected rank 4 [batch, height, width, channels] (channels last)");
        }
        if (input[0] == 0 || input[1] == 0 || input[2] == 0) {
            throw new ShapeException(who + ": input " + in + " has an empty height, width or channel axis");
        }
        int[] k = Convolution.pair(who, "kernel size", kernelSize);
        int[] s = Convolution.pair(who, "strides", strides);
        boolean same = Convolution.isSame(who, padding);
        long[] out = {outputLength(who, input[0], k[0], s[0], same), outputLength(who, input[1], k[1], s[1], same), filters};
        Shapes.checkShape(who, out);
        return out;
    }

    /** Keras' deconv_output_length without output_padding or dilation. */
    static long outputLength(String op, long size, long k, long stride, boolean same) {
        try {
            long scaled = Math.multiplyExact(size, stride);
            return same ? scaled : Math.addExact(scaled, Math.max(k - stride, 0));
        } catch (ArithmeticException e) {
            throw new ShapeException(op + ": output size " + size + " * stride " + stride + " overflows");
        }
    }

    /** Validates every argument; returns the geometry of the adjoint convolution (input [N, OH, OW, F]). */
    static ConvKernels.Geometry geometry(Tensor x, Tensor kernel, Tensor bias, int[] strides, String padding) {
        Tensor[] inputs = bias == null ? new Tensor[] {x, kernel} : new Tensor[] {x, kernel, bias};
        Check.open(OP, inputs);
        Check.sameDevice(OP, inputs);
        Check.sameDType(OP, inputs);
        Check.floating(OP, x);
        if (x.ndim() != 4) {
            throw new ShapeException(OP + ": input " + x.describe() + " has rank " + x.ndim()
                    + ", expected rank 4 [batch, height, width, channels] (channels last)");
        }
        if (kernel.ndim() != 4) {
            throw new ShapeException(OP + ": kernel " + kernel.describe() + " has rank " + kernel.ndim()
                    + ", expected rank 4 [kernel_height, kernel_width, filters, in_channels] (Keras' Conv2DTranspose layout)");
        }
        long[] xs = x.shape();
        long[] ks = kernel.shape();
        if (ks[3] != xs[3]) {
            throw new ShapeException(OP + ": kernel " + kernel.describe() + " expects " + ks[3]
                    + " input channels (its last axis) but input " + x.describe() + " has " + xs[3]);
        }
        if (bias != null && (bias.ndim() != 1 || bias.size(0) != ks[2])) {
            throw new ShapeException(OP + ": bias " + bias.describe() + " must have shape [" + ks[2]
                    + "] (one value per filter of kernel " + kernel.describe() + ")");
        }
        for (int i = 0; i < 4; i++) {
            if (ks[i] == 0) throw new ShapeException(OP + ": kernel " + kernel.describe() + " has an empty dimension");
        }
        if (xs[1] == 0 || xs[2] == 0 || xs[3] == 0) {
            throw new ShapeException(OP + ": input " + x.describe() + " has an empty height, width or channel axis");
        }
        int[] s = Convolution.pair(OP, "strides", strides);
        boolean same = Convolution.isSame(OP, padding);
        long oh = outputLength(OP, xs[1], ks[0], s[0], same);
        long ow = outputLength(OP, xs[2], ks[1], s[1], same);
        Shapes.checkShape(OP, new long[] {xs[0], oh, ow, ks[2]});
        String image = "[" + xs[0] + ", " + oh + ", " + ow + ", " + ks[2] + "]";
        long[] rows = Convolution.window(OP, image, "height", oh, ks[0], s[0], 1, same);
        long[] cols = Convolution.window(OP, image, "width", ow, ks[1], s[1], 1, same);
        if (rows[0] != xs[1] || cols[0] != xs[2]) {
            // Cannot happen with Keras' output sizes; kept so a future output_padding cannot go wrong silently.
            throw new IllegalStateException(OP + ": adjoint convolution of " + image + " gives [" + rows[0] + ", "
                    + cols[0] + "], not the input " + x.describe());
        }
        return new ConvKernels.Geometry(xs[0], oh, ow, ks[2], xs[1], xs[2], xs[3], ks[0], ks[1], s[0], s[1], 1, 1,
                rows[1], rows[2], cols[1], cols[2]);
    }

    private static Tensor[] backward(ConvKernels.Geometry g, Tensor x, Tensor kernel, Tensor grad) {
        String bop = OP + " backward";
        Check.open(bop, x, kernel, grad);
        DType dt = x.dtype();
        Tensor gz = Convolution.dense(grad);
        Tensor dx = null;
        Tensor dk = null;
        try {
            if (x.requiresGrad()) {
                dx = Tensor.empty(dt, x.device(), x.shape());
                if (g.n() > 0) {
                    try (Tensor kd = Convolution.dense(kernel)) {
                        x.backend().conv().conv2d(g, gz, kd, null, false, dx);
                    }
                }
            }
            if (kernel.requiresGrad()) {
                if (g.n() == 0) {
                    dk = Tensor.zeros(dt, x.device(), kernel.shape());
                } else {
                    dk = Tensor.empty(dt, x.device(), kernel.shape());
                    try (Tensor xd = Convolution.dense(x)) {
                        x.backend().conv().conv2dBackwardWeights(g, gz, xd, dk, null);
                    }
                }
            }
        } finally {
            gz.close();
        }
        return new Tensor[] {dx, dk};
    }
}
