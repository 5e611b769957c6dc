package dev.soma.ops;

import dev.soma.autograd.Autograd;
import dev.soma.autograd.GradMode;
import dev.soma.backend.Bf16Copy;
import dev.soma.backend.MixedPrecision;
import dev.soma.backend.ConvKernels;
import dev.soma.backend.ElementwiseKernels.UnaryOp;
import dev.soma.errors.ShapeException;
import dev.soma.tensor.DType;
import dev.soma.tensor.Tensor;

import java.util.Arrays;

/**
 * 2-d convolution as Keras' Conv2D computes it: channels-last input {@code x [N, H, W, C]}, kernel
 * {@code [KH, KW, C, OC]} (HWIO), optional bias {@code [OC]}, strides, dilation and padding "valid" (no
 * padding; the dilated kernel must fit) or "same" (output {@code ceil(H / stride)}; the padding total
 * {@code max((OH - 1) * stride + (KH - 1) * dilation + 1 - H, 0)} is split with the odd pixel at the bottom and
 * right, as TensorFlow). Output {@code [N, OH, OW, OC]}.
 *
 * <p>Backward: the input gradient by oneDNN's backward-data pass, the kernel and bias gradients by its
 * backward-weights pass (f32); direct loops for f64. {@link #conv2dRelu} adds a ReLU to the forward; its
 * backward masks the incoming gradient with {@code y > 0} first.
 */
public final class Convolution {
    private static final String OP = "conv2d";

    private Convolution() {}

    /** Stride 1 in both directions, no dilation. */
    public static Tensor conv2d(Tensor x, Tensor kernel, Tensor bias, String padding) {
        return conv2d(x, kernel, bias, new int[] {1, 1}, padding, new int[] {1, 1});
    }

    /**
     * The convolution of {@code x} with {@code kernel} plus {@code bias} (null: none). {@code strides} and
     * {@code dilation} are (height, width) pairs of positive values; {@code padding} is "valid" or "same".
     */
    public static Tensor conv2d(Tensor x, Tensor kernel, Tensor bias, int[] strides, String padding, int[] dilation) {
        return conv(OP, false, x, kernel, bias, strides, padding, dilation);
    }

    /**
     * {@code relu(conv2d(...))} as one op (one autograd node; the CPU runs the ReLU after oneDNN, whose fused ReLU
     * would turn NaN into 0); the same arguments as {@link #conv2d}.
     */
    public static Tensor conv2dRelu(Tensor x, Tensor kernel, Tensor bias, int[] strides, String padding, int[] dilation) {
        return conv("conv2dRelu", true, x, kernel, bias, strides, padding, dilation);
    }

    /** The implementations each pass would run for this call (for tests and debug logs); computes nothing. */
    public static String[] implementations(Tensor x, Tensor kernel, Tensor bias, int[] strides, String padding,
                                           int[] dilation) {
        ConvKernels.Geometry g = geometry(OP, x, kernel, bias, strides, padding, dilation);
        return x.backend().conv().conv2dImplementations(g, x.dtype(), bias != null);
    }

    // ------------------------------------------------------------------ forward

    private static Tensor conv(String op, boolean relu, Tensor x, Tensor kernel, Tensor bias, int[] strides,
                               String padding, int[] dilation) {
        ConvKernels.Geometry g = geometry(op, x, kernel, bias, strides, padding, dilation);
        Tensor out = Tensor.empty(x.dtype(), x.device(), g.n(), g.oh(), g.ow(), g.oc());
        Bf16Copy x16 = null;
        if (g.n() > 0) {
            Tensor xd = dense(x);
            Tensor kd = dense(kernel);
            Tensor bd = bias == null ? null : dense(bias);
            try {
                x16 = keepInputForWeights(g, x, kernel);
                x.backend().conv().conv2d(g, xd, kd, bd, relu, out, x16);
            } catch (RuntimeException e) {
                if (x16 != null) x16.close();
                throw e;
            } finally {
                xd.close();
                kd.close();
                if (bd != null) bd.close();
            }
        }
        Bf16Copy kept = x16;
        return Autograd.record(op, out, grad -> backward(op, relu, g, x, kernel, bias, out, grad, kept), x, kernel, bias);
    }

    /**
     * bf16 mixed precision: the backward-weights pass reads x again, so the forward rounds it once and keeps the copy;
     * null when there is nothing to keep. Only when x is itself dense: then the backward's dense(x) is a view of x's
     * storage, which the copy covers (a dense copy of a strided x would be another storage).
     */
    static Bf16Copy keepInputForWeights(ConvKernels.Geometry g, Tensor x, Tensor kernel) {
        if (Autograd.needsGrad(kernel) && x.isContiguous() && MixedPrecision.bf16Convolution(g.c(), g.oc())) {
            return x.backend().memory().keepBf16(x);
        }
        return null;
    }

    /** Validates every argument and works out the output size and padding. */
    static ConvKernels.Geometry geometry(String op, Tensor x, Tensor kernel, Tensor bias, int[] strides, String padding,
                                         int[] dilation) {
        Tensor[] inputs = bias == null ? new Tensor[] {x, kernel} : new Tensor[] {x, kernel, bias};
        Check.sameDevice(op, inputs);
        Check.sameDType(op, inputs);
        Check.floating(op, x);
        if (x.ndim() != 4) {
            throw new ShapeException(op + ": input " + x.describe() + " has rank " + x.ndim()
                    + ", expected rank 4 [batch, height, width, channels] (channels last)");
        }
        if (kernel.ndim() != 4) {
            throw new ShapeException(op + ": kernel " + kernel.describe() + " has rank " + kernel.ndim()
                    + ", expected rank 4 [kernel_height, kernel_width, in_channels, out_channels] (HWIO)");
        }
        long[] xs = x.shape();
        long[] ks = kernel.shape();
        if (ks[2] != xs[3]) {
            throw new ShapeException(op + ": kernel " + kernel.describe() + " expects " + ks[2]
                    + " input channels but input " + x.describe() + " has " + xs[3]);
        }
        if (bias != null && (bias.ndim() != 1 || bias.size(0) != ks[3])) {
            throw new ShapeException(op + ": bias " + bias.describe() + " must have shape [" + ks[3]
                    + "] (one value per output channel of kernel " + kernel.describe() + ")");
        }
        for (int i = 0; i < 4; i++) {
            if (ks[i] == 0) throw new ShapeException(op + ": kernel " + kernel.describe() + " has an empty dimension");
        }
        if (xs[1] == 0 || xs[2] == 0 || xs[3] == 0) {
            throw new ShapeException(op + ": input " + x.describe() + " has an empty height, width or channel axis");
        }
        int[] s = pair(op, "strides", strides);
        int[] d = pair(op, "dilation", dilation);
        boolean same = isSame(op, padding);
        long[] rows = window(op, x.describe(), "height", xs[1], ks[0], s[0], d[0], same);
        long[] cols = window(op, x.describe(), "width", xs[2], ks[1], s[1], d[1], same);
        Shapes.checkShape(op, new long[] {xs[0], rows[0], cols[0], ks[3]});
        return new ConvKernels.Geometry(xs[0], xs[1], xs[2], xs[3], rows[0], cols[0], ks[3], ks[0], ks[1], s[0], s[1],
                d[0], d[1], rows[1], rows[2], cols[1], cols[2]);
    }

    /**
     * The per-example output shape {@code [OH, OW, filters]} of a convolution of an input {@code [H, W, C]}
     * (for layers' shape inference); {@code who} names the caller in messages.
     */
    public static long[] outputShape(String who, long[] input, int[] kernelSize, long filters, int[] strides,
                                     String padding, int[] dilation) {
        String in = "[batch, " + join(input) + "]";
        if (input.length != 3) {
            throw new ShapeException(who + ": input " + in + " has rank " + (input.length + 1)
                    + ", expected rank 4 [batch, height, width, channels] (channels last)");
        }
        if (input[0] == 0 || input[1] == 0 || input[2] == 0) {
            throw new ShapeException(who + ": input " + in + " has an empty height, width or channel axis");
        }
        int[] k = pair(who, "kernel size", kernelSize);
        int[] s = pair(who, "strides", strides);
        int[] d = pair(who, "dilation", dilation);
        boolean same = isSame(who, padding);
        long[] rows = window(who, in, "height", input[0], k[0], s[0], d[0], same);
        long[] cols = window(who, in, "width", input[1], k[1], s[1], d[1], same);
        return new long[] {rows[0], cols[0], filters};
    }

    static String join(long[] shape) {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < shape.length; i++) b.append(i == 0 ? "" : ", ").append(shape[i]);
        return b.toString();
    }

    // ------------------------------------------------------------------ shared with Pooling

    /** A (height, width) pair of positive values, or a ShapeException naming the op and argument. */
    static int[] pair(String op, String what, int[] values) {
        if (values == null || values.length != 2) {
            throw new ShapeException(op + ": " + what + " must be a (height, width) pair, got "
                    + (values == null ? "null" : Arrays.toString(values)));
        }
        if (values[0] <= 0 || values[1] <= 0) {
            throw new ShapeException(op + ": " + what + " must be positive, got " + Arrays.toString(values));
        }
        return values.clone();
    }

    /** True for "same", false for "valid" (Keras' names, any case). */
    static boolean isSame(String op, String padding) {
        if (padding != null && padding.equalsIgnoreCase("same")) return true;
        if (padding != null && padding.equalsIgnoreCase("valid")) return false;
        throw new ShapeException(op + ": padding must be \"valid\" or \"same\", got " + (padding == null ? "null" : "\"" + padding + "\""));
    }

    /**
     * The longest padded axis or dilated window the kernels take: oneDNN's JIT convolution crashed the JVM on a window
     * dilated to 2^31 positions (its offsets are 32-bit), found by the layer fuzzer; 2^30 keeps a margin.
     */
    static final long MAX_PADDED_AXIS = 1L << 30;

    /**
     * Output size and padding (before, after) along one axis of {@code size} for a window of {@code k} taps,
     * {@code dilation} apart, moved by {@code stride}: Keras/TensorFlow semantics.
     */
    static long[] window(String op, String input, String axis, long size, long k, long stride, long dilation, boolean same) {
        long extent;
        try {
            extent = Math.addExact(Math.multiplyExact(k - 1, dilation), 1);
        } catch (ArithmeticException e) {
            throw new ShapeException(op + ": window of " + k + " taps with dilation " + dilation + " overflows");
        }
        if (extent > MAX_PADDED_AXIS) {
            throw new ShapeException(op + ": a window of " + k + " taps with dilation " + dilation + " spans " + extent
                    + " positions along the " + axis + " of " + input + "; at most " + MAX_PADDED_AXIS);
        }
        if (same) {
            long out = (size + stride - 1) / stride;
            long total = Math.max((out - 1) * stride + extent - size, 0);
            if (size + total > MAX_PADDED_AXIS) {
                throw new ShapeException(op + ": \"same\" padding of " + total + " positions along the " + axis + " of "
                        + input + " (window " + k + ", dilation " + dilation + ") makes a padded axis longer than "
                        + MAX_PADDED_AXIS);
            }
            return new long[] {out, total / 2, total - total / 2};
        }
        if (extent > size) {
            throw new ShapeException(op + ": window " + (dilation > 1 ? k + " (dilated to " + extent + ")" : Long.toString(k))
                    + " along the " + axis + " is larger than the input " + input + " (" + axis + " " + size
                    + ") with padding \"valid\"; use padding \"same\" or a smaller window");
        }
        return new long[] {(size - extent) / stride + 1, 0, 0};
    }

    /** A contiguous tensor with t's values: a view when t already is, else a copy. Not recorded; close it. */
    static Tensor dense(Tensor t) {
        try (GradMode.Guard g = GradMode.disable()) {
            if (t.isContiguous()) return t.viewOf(t.offset(), t.shape(), t.strides());
            return Shapes.copy(t);
        }
    }

    // ------------------------------------------------------------------ backward

    private static Tensor[] backward(String op, boolean relu, ConvKernels.Geometry g, Tensor x, Tensor kernel,
                                     Tensor bias, Tensor out, Tensor grad, Bf16Copy x16) {
        String bop = op + " backward";
        Check.open(bop, x, kernel, grad);
        DType dt = x.dtype();
        Tensor gz = dense(grad);
        if (relu) {
            // relu'(z) = [y > 0] with y = relu(z): the saved output is all the mask needs.
            Check.open(bop, out);
            Tensor masked = Tensor.empty(dt, x.device(), out.shape());
            if (out.numel() > 0) x.backend().elementwise().unaryBackward(UnaryOp.RELU, out, out, gz, masked, 0, 0);
            gz.close();
            gz = masked;
        }
        boolean wantBias = bias != null && bias.requiresGrad();
        boolean bothPasses = x.requiresGrad() && kernel.requiresGrad() && g.n() > 0;
        // bf16 mixed precision: both backward passes read gz; round it once when both run.
        Bf16Copy gz16 = bothPasses && MixedPrecision.bf16Convolution(g.c(), g.oc())
                ? x.backend().memory().keepBf16(gz) : null;
        Tensor dx = null;
        Tensor dk = null;
        Tensor db = null;
        try {
            if (bothPasses) {
                // Both passes in one call: a backend may share their work (CpuConv's Winograd sweep).
                dx = Tensor.empty(dt, x.device(), x.shape());
                dk = Tensor.empty(dt, x.device(), kernel.shape());
                db = wantBias ? Tensor.empty(dt, x.device(), bias.shape()) : null;
                try (Tensor kd = dense(kernel); Tensor xd = dense(x)) {
                    x.backend().conv().conv2dBackward(g, xd, gz, kd, dx, dk, db, x16, gz16);
                }
                return new Tensor[] {dx, dk, db};
            }
            if (x.requiresGrad()) {
                dx = Tensor.empty(dt, x.device(), x.shape());
                if (g.n() > 0) {
                    try (Tensor kd = dense(kernel)) {
                        x.backend().conv().conv2dBackwardData(g, gz, kd, dx, gz16);
                    }
                }
            }
            if (g.n() == 0) {
                if (kernel.requiresGrad()) dk = Tensor.zeros(dt, x.device(), kernel.shape());
                if (wantBias) db = Tensor.zeros(dt, x.device(), bias.shape());
            } else if (kernel.requiresGrad()) {
                dk = Tensor.empty(dt, x.device(), kernel.shape());
                db = wantBias ? Tensor.empty(dt, x.device(), bias.shape()) : null;
                try (Tensor xd = dense(x)) {
                    x.backend().conv().conv2dBackwardWeights(g, xd, gz, dk, db, x16, gz16);
                }
            } else if (wantBias) {
                db = Reductions.sum(gz, new int[] {0, 1, 2}, false);
            }
        } finally {
            if (gz16 != null) gz16.close();
            // A graph is walked once; a second walk would round x afresh (a closed copy is ignored).
            if (x16 != null) x16.close();
            gz.close();
        }
        return new Tensor[] {dx, dk, db};
    }
}
