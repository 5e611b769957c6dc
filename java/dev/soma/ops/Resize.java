package dev.soma.ops;

import dev.soma.errors.ShapeException;
import dev.soma.tensor.Tensor;

/**
 * Spatial resizing of channels-last images {@code [N, H, W, C]}, as Keras' UpSampling2D.
 *
 * <p>{@link #upsampleNearest2d} repeats every pixel into an {@code sh x sw} block. It is built from view ops
 * ({@code reshape -> expand -> copy -> reshape}), so its backward is the expand's: each output block's
 * gradient summed into its input pixel.
 */
public final class Resize {
    private static final String OP = "upsampleNearest2d";

    private Resize() {}

    /** {@code [N, H, W, C] -> [N, H * size[0], W * size[1], C]}, nearest neighbour. */
    public static Tensor upsampleNearest2d(Tensor x, int[] size) {
        return upsampleNearest2d(OP, x, size);
    }

    /** As {@link #upsampleNearest2d(Tensor, int[])} with messages naming {@code who} (a layer, say). */
    public static Tensor upsampleNearest2d(String who, Tensor x, int[] size) {
        Check.open(who, x);
        Check.floating(who, x);
        if (x.ndim() != 4) {
            throw new ShapeException(who + ": input " + x.describe() + " has rank " + x.ndim()
                    + ", expected rank 4 [batch, height, width, channels] (channels last)");
        }
        long[] s = x.shape();
        long[] out = upsampledShape(who, new long[] {s[1], s[2], s[3]}, size);
        Shapes.checkShape(who, new long[] {s[0], out[0], out[1], out[2]});
        Tensor blocks = Shapes.reshape(x, s[0], s[1], 1, s[2], 1, s[3])
                .expand(s[0], s[1], size[0], s[2], size[1], s[3]);
        return Shapes.reshape(blocks, s[0], out[0], out[1], out[2]);
    }

    /**
     * The per-example output shape {@code [H * sh, W * sw, C]} of an input {@code [H, W, C]} (layers' shape
     * inference); {@code who} names the caller in messages.
     */
    public static long[] upsampledShape(String who, long[] input, int[] size) {
        if (input.length != 3) {
            throw new ShapeException(who + ": input [batch, " + Convolution.join(input) + "] has rank "
                    + (input.length + 1) + ", expected rank 4 [batch, height, width, channels] (channels last)");
        }
        int[] f = Convolution.pair(who, "size", size);
        try {
            long[] out = {Math.multiplyExact(input[0], (long) f[0]), Math.multiplyExact(input[1], (long) f[1]), input[2]};
            Shapes.checkShape(who, out);
            return out;
        } catch (ArithmeticException e) {
            throw new ShapeException(who + ": upsampling [batch, " + Convolution.join(input) + "] by "
                    + f[0] + "x" + f[1] + " overflows");
        }
    }
}
