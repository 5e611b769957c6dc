package dev.soma.ops;

import dev.soma.autograd.Autograd;
import dev.soma.backend.ConvKernels;
import dev.soma.backend.ConvKernels.PoolKind;
import dev.soma.errors.ShapeException;
import dev.soma.tensor.DType;
import dev.soma.tensor.Tensor;

/**
 * 2-d pooling over channels-last input {@code x [N, H, W, C]} as Keras' MaxPooling2D / AveragePooling2D:
 * a pool size, strides (null: the pool size), padding "valid" or "same" (as {@link Convolution}); the
 * average counts only positions inside the image (padding excluded, as Keras). Output {@code [N, OH, OW, C]}.
 *
 * <p>Max pooling's backward sends each output's gradient to the maximum of its window. On oneDNN the training
 * forward records those positions in a workspace; it is allocated from the pool in the same block as the
 * output (after it), so it lives exactly as long as the output tensor, which the backward closure holds:
 * freed when the output is (its scope closes), never before the backward can run.
 */
public final class Pooling {
    private static final int WORKSPACE_ALIGN = 64;

    private Pooling() {}

    /** Max pooling; {@code strides} null means the pool size. */
    public static Tensor maxPool2d(Tensor x, int[] poolSize, int[] strides, String padding) {
        return pool("maxPool2d", PoolKind.MAX, x, poolSize, strides, padding);
    }

    /** Average pooling (padding excluded from each average); {@code strides} null means the pool size. */
    public static Tensor avgPool2d(Tensor x, int[] poolSize, int[] strides, String padding) {
        return pool("avgPool2d", PoolKind.AVG, x, poolSize, strides, padding);
    }

    /** Mean over height and width: {@code [N, H, W, C] -> [N, C]} (Keras' GlobalAveragePooling2D). */
    public static Tensor globalAveragePool(Tensor x) {
        String op = "globalAveragePool";
        Check.open(op, x);
        Check.floating(op, x);
        if (x.ndim() != 4) {
            throw new ShapeException(op + ": input " + x.describe() + " has rank " + x.ndim()
                    + ", expected rank 4 [batch, height, width, channels] (channels last)");
        }
        if (x.size(1) == 0 || x.size(2) == 0) {
            throw new ShapeException(op + ": input " + x.describe() + " has an empty height or width; nothing to average");
        }
        return Reductions.mean(x, new int[] {1, 2}, false);
    }

    /** Implementations of the forward and backward passes (for tests and debug logs); computes nothing. */
    public static String[] implementations(PoolKind kind, Tensor x, int[] poolSize, int[] strides, String padding) {
        ConvKernels.Geometry g = geometry(kind == PoolKind.MAX ? "maxPool2d" : "avgPool2d", x, poolSize, strides, padding);
        return x.backend().conv().pool2dImplementations(kind, g, x.dtype());
    }

    /**
     * The per-example output shape {@code [OH, OW, C]} of pooling an input {@code [H, W, C]} (for layers' shape
     * inference); {@code who} names the caller in messages; {@code strides} null means the pool size.
     */
    public static long[] outputShape(String who, long[] input, int[] poolSize, int[] strides, String padding) {
        String in = "[batch, " + Convolution.join(input) + "]";
        if (input.length != 3) {
            throw new ShapeException(who + ": input " + in + " has rank " + (input.length + 1)
                    + ", expected rank 4 [batch, height, width, channels] (channels last)");
        }
        if (input[0] == 0 || input[1] == 0 || input[2] == 0) {
            throw new ShapeException(who + ": input " + in + " has an empty height, width or channel axis");
        }
        int[] k = Convolution.pair(who, "pool size", poolSize);
        int[] s = strides == null ? k : Convolution.pair(who, "strides", strides);
        boolean same = Convolution.isSame(who, padding);
        long[] rows = Convolution.window(who, in, "height", input[0], k[0], s[0], 1, same);
        long[] cols = Convolution.window(who, in, "width", input[1], k[1], s[1], 1, same);
        return new long[] {rows[0], cols[0], input[2]};
    }

    static ConvKernels.Geometry geometry(String op, Tensor x, int[] poolSize, int[] strides, String padding) {
        Check.open(op, x);
        Check.floating(op, x);
        if (x.ndim() != 4) {
            throw new ShapeException(op + ": input " + x.describe() + " has rank " + x.ndim()
                    + ", expected rank 4 [batch, height, width, channels] (channels last)");
        }
        return geometry(op, x.shape(), x.describe(), poolSize, strides, padding);
    }

    /**
     * The geometry of pooling an input of shape {@code xs} [N, H, W, C] (described as {@code input} in messages);
     * {@code strides} null means the pool size.
     */
    static ConvKernels.Geometry geometry(String op, long[] xs, String input, int[] poolSize, int[] strides, String padding) {
        if (xs[1] == 0 || xs[2] == 0 || xs[3] == 0) {
            throw new ShapeException(op + ": input " + input + " has an empty height, width or channel axis");
        }
        int[] k = Convolution.pair(op, "pool size", poolSize);
        int[] s = strides == null ? k : Convolution.pair(op, "strides", strides);
        boolean same = Convolution.isSame(op, padding);
        long[] kernel = {clampedWindow(xs[1], k[0], s[0], same), clampedWindow(xs[2], k[1], s[1], same)};
        long[] rows = Convolution.window(op, input, "height", xs[1], kernel[0], s[0], 1, same);
        long[] cols = Convolution.window(op, input, "width", xs[2], kernel[1], s[1], 1, same);
        Shapes.checkShape(op, new long[] {xs[0], rows[0], cols[0], xs[3]});
        return new ConvKernels.Geometry(xs[0], xs[1], xs[2], xs[3], rows[0], cols[0], xs[3], kernel[0], kernel[1],
                s[0], s[1], 1, 1, rows[1], rows[2], cols[1], cols[2]);
    }

    /**
     * The window along one axis, or a smaller one with the same result. With "same" padding a window may exceed the
     * input; from (out - 1) * stride + size taps on, every window covers the whole input (padding ahead of the first
     * output at least (out - 1) * stride, behind the last likewise), and pooling skips the padding, so larger ones
     * give the same outputs. oneDNN's JIT pooling crashed the process on a window of 2^31 - 1 (found by the op fuzzer).
     */
    private static long clampedWindow(long size, long k, long stride, boolean same) {
        if (!same) return k;
        long out = (size + stride - 1) / stride;
        return Math.min(k, (out - 1) * stride + size);
    }

    private static Tensor pool(String op, PoolKind kind, Tensor x, int[] poolSize, int[] strides, String padding) {
        ConvKernels.Geometry g = geometry(op, x, poolSize, strides, padding);
        DType dt = x.dtype();
        long[] outShape = {g.n(), g.oh(), g.ow(), g.oc()};
        boolean training = Autograd.needsGrad(x) && g.n() > 0;
        long wsBytes = training ? x.backend().conv().pool2dWorkspaceBytes(kind, g, dt) : 0;
        long outBytes = Shapes.numel(outShape) * dt.byteSize();
        long wsOffset = (outBytes + WORKSPACE_ALIGN - 1) / WORKSPACE_ALIGN * WORKSPACE_ALIGN;
        Tensor out;
        if (wsBytes > 0) {
            // One block: the output, then the workspace; the block's own handle goes, the output's view stays.
            long elements = (wsOffset + wsBytes + dt.byteSize() - 1) / dt.byteSize();
            try (Tensor block = Tensor.empty(dt, x.device(), elements)) {
                out = block.viewOf(0, outShape, Shapes.contiguousStrides(outShape));
            }
        } else {
            out = Tensor.empty(dt, x.device(), outShape);
        }
        if (g.n() > 0) {
            try (Tensor xd = Convolution.dense(x)) {
                x.backend().conv().pool2d(kind, g, xd, out, wsBytes > 0 ? out.address() + wsOffset : 0);
            }
        }
        return Autograd.record(op, out, grad -> new Tensor[] {backward(op, kind, g, x, out, wsBytes > 0 ? wsOffset : -1, grad)}, x);
    }

    /** The input gradient; {@code wsOffset} is where the workspace lies after the output's first byte (-1: none). */
    private static Tensor backward(String op, PoolKind kind, ConvKernels.Geometry g, Tensor x, Tensor out, long wsOffset,
                                   Tensor grad) {
        String bop = op + " backward";
        Check.open(bop, grad);
        Tensor dx = Tensor.empty(grad.dtype(), grad.device(), g.n(), g.h(), g.w(), g.c());
        if (g.n() == 0) return dx;
        long workspace = 0;
        if (wsOffset >= 0) {
            Check.open(bop, out);
            workspace = out.address() + wsOffset;
        }
        Tensor xd = null;
        if (kind == PoolKind.MAX && workspace == 0) {
            Check.open(bop, x);
            xd = Convolution.dense(x);
        }
        try (Tensor gd = Convolution.dense(grad)) {
            grad.backend().conv().pool2dBackward(kind, g, xd, gd, workspace, dx);
        } finally {
            if (xd != null) xd.close();
        }
        return dx;
    }
}
