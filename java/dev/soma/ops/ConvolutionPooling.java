package dev.soma.ops;

import dev.soma.autograd.Autograd;
import dev.soma.backend.Bf16Copy;
import dev.soma.backend.ConvKernels;
import dev.soma.tensor.DType;
import dev.soma.tensor.Tensor;

import java.util.Arrays;

/**
 * {@code maxPool2d(conv2dRelu(x, kernel, bias, ...), ...)} as one op: a Conv2D with ReLU followed by MaxPooling2D,
 * which a {@link dev.soma.model.Sequential} runs through here (and a {@link dev.soma.model.FunctionalModel} when the
 * pooling is the only reader of the convolution's output).
 *
 * <p>On a backend that has it (the CPU, float32, bf16 mixed precision included) the convolution's output never
 * becomes a tensor. The ReLU runs on the pooled values (max and ReLU commute), and the backward gathers the
 * gradient of the convolution's output straight from the pooled gradient, masked where the output was not positive,
 * and in a bf16 scope already rounded for the convolution's bf16 passes. That saves two passes over the full-size
 * output in the forward (ReLU) and three or four in the backward (the pooling's float32 scatter, the ReLU mask and,
 * in bf16, the rounding), and the memory of keeping it. Everywhere else (float64, CUDA, an empty batch, or with
 * {@code -Dsoma.fuseConvPool=false}) it is the two ops.
 *
 * <p>Results equal the two ops' bit for bit where the pooling windows do not overlap (strides at least the pool
 * size); overlapping windows sum a position's gradients in another order. A window holding NaN gives NaN, as the two
 * ops do, but passes no gradient (PyTorch's rule: ReLU's gradient at NaN is 0), where the two ops route it to the
 * window's largest other value.
 */
public final class ConvolutionPooling {
    private static final String OP = "conv2dReluMaxPool";
    private static final boolean FUSE = !"false".equalsIgnoreCase(System.getProperty("soma.fuseConvPool"));

    private ConvolutionPooling() {}

    /**
     * The arguments of {@link Convolution#conv2dRelu} and then of {@link Pooling#maxPool2d} ({@code poolStrides}
     * null: the pool size).
     */
    public static Tensor conv2dReluMaxPool(Tensor x, Tensor kernel, Tensor bias, int[] strides, String padding,
                                           int[] dilation, int[] poolSize, int[] poolStrides, String poolPadding) {
        ConvKernels.Geometry g = Convolution.geometry(OP, x, kernel, bias, strides, padding, dilation);
        long[] zShape = {g.n(), g.oh(), g.ow(), g.oc()};
        ConvKernels.Geometry p = Pooling.geometry(OP, zShape, "(the convolution's output " + Arrays.toString(zShape) + ")",
                poolSize, poolStrides, poolPadding);
        if (!fused(x, g, p)) {
            return Pooling.maxPool2d(Convolution.conv2dRelu(x, kernel, bias, strides, padding, dilation), poolSize,
                    poolStrides, poolPadding);
        }
        long[] outShape = {p.n(), p.oh(), p.ow(), p.c()};
        long outCount = Shapes.numel(outShape);
        boolean record = Autograd.needsGrad(x, kernel, bias);
        Tensor out;
        if (record) {
            // One block: the output, then one int32 window tap per output element for the backward; the output's
            // view keeps the block alive exactly as long as the backward can run (as Pooling's workspace).
            try (Tensor block = Tensor.empty(DType.F32, x.device(), Math.multiplyExact(outCount, 2))) {
                out = block.viewOf(0, outShape, Shapes.contiguousStrides(outShape));
            }
        } else {
            out = Tensor.empty(DType.F32, x.device(), outShape);
        }
        long tapsOffset = outCount * Float.BYTES;
        Bf16Copy x16 = null;
        try (Tensor xd = Convolution.dense(x); Tensor kd = Convolution.dense(kernel);
             Tensor bd = bias == null ? null : Convolution.dense(bias)) {
            x16 = Convolution.keepInputForWeights(g, x, kernel);
            x.backend().conv().conv2dReluMaxPool(g, p, xd, kd, bd, out, record ? out.address() + tapsOffset : 0, x16);
        } catch (RuntimeException e) {
            if (x16 != null) x16.close();
            out.close();
            throw e;
        }
        Bf16Copy kept = x16;
        return Autograd.record(OP, out, grad -> backward(g, p, x, kernel, bias, out, tapsOffset, grad, kept), x, kernel, bias);
    }

    /**
     * Whether this call runs fused: a float32 input, a batch, a backend with the kernels, and a pooling window whose
     * taps an int32 numbers (the fused kernels record each output's tap as one; "same" padding allows any window).
     */
    private static boolean fused(Tensor x, ConvKernels.Geometry g, ConvKernels.Geometry p) {
        return FUSE && x.dtype() == DType.F32 && g.n() > 0 && p.kh() * p.kw() <= Integer.MAX_VALUE
                && x.backend().conv().hasConv2dReluMaxPool();
    }

    private static Tensor[] backward(ConvKernels.Geometry g, ConvKernels.Geometry p, Tensor x, Tensor kernel, Tensor bias,
                                     Tensor out, long tapsOffset, Tensor grad, Bf16Copy x16) {
        String bop = OP + " backward";
        try {
            Check.open(bop, x, kernel, grad, out);
            boolean wantBias = bias != null && bias.requiresGrad();
            Tensor dx = x.requiresGrad() ? Tensor.empty(DType.F32, x.device(), x.shape()) : null;
            // The bias gradient comes out of the backward-weights pass: a frozen kernel's is computed and dropped.
            Tensor dk = kernel.requiresGrad() || wantBias ? Tensor.empty(DType.F32, x.device(), kernel.shape()) : null;
            Tensor db = wantBias ? Tensor.empty(DType.F32, x.device(), bias.shape()) : null;
            try (Tensor gd = Convolution.dense(grad); Tensor xd = Convolution.dense(x); Tensor kd = Convolution.dense(kernel)) {
                x.backend().conv().conv2dReluMaxPoolBackward(g, p, xd, kd, gd, out, out.address() + tapsOffset, dx, dk,
                        db, x16);
            }
            if (dk != null && !kernel.requiresGrad()) {
                dk.close();
                dk = null;
            }
            return new Tensor[] {dx, dk, db};
        } finally {
            // A graph is walked once; a second walk would round x afresh (a closed copy is ignored).
            if (x16 != null) x16.close();
        }
    }
}
