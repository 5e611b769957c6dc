package dev.soma.ops;

import dev.soma.autograd.Autograd;
import dev.soma.backend.ElementwiseKernels;
import dev.soma.errors.ShapeException;
import dev.soma.errors.SomaException;
import dev.soma.tensor.DType;
import dev.soma.tensor.Tensor;

import java.util.Arrays;

/**
 * {@code act(y + bias)} with the bias broadcast over the last axis, as one kernel forward and one backward: the
 * epilogue of a dense layer or convolution. Each fused activation computes exactly what {@code y.add(bias)}
 * followed by the unfused activation computes (bit-identical on the CPU; the same functors on CUDA).
 *
 * <p>Backward: {@code dy = g * act'(y + bias)} in one kernel, from the saved output for relu, sigmoid and tanh,
 * from {@code y + bias} recomputed in the kernel for leaky relu and gelu (so the forward writes one tensor,
 * not two); {@code dbias} is the sum of {@code dy} over the leading axes (the reduction kernels).
 */
public final class BiasActivation {
    private BiasActivation() {}

    private static final String OP = "biasActivation";

    /**
     * {@code act(y + bias)}: {@code bias} of shape {@code [C]} where {@code y} is {@code [..., C]}, both floating
     * point, one dtype, one device; {@code alpha} is leaky relu's slope (ignored by the others).
     */
    public static Tensor apply(Tensor y, Tensor bias, ElementwiseKernels.BiasActivation act, double alpha) {
        validate(y, bias, act, alpha);
        // The kernels want dense operands; a strided view is copied once (and kept while backward may read it).
        Tensor yc = dense(y);
        Tensor bc = dense(bias);
        Tensor out = Tensor.empty(y.dtype(), y.device(), y.shape());
        y.backend().elementwise().biasActivation(act, yc, bc, out, alpha);
        boolean needsInputs = act != ElementwiseKernels.BiasActivation.LINEAR && !act.backwardFromOutput();
        if (!needsInputs || !Autograd.needsGrad(y, bias)) {
            if (yc != y) yc.close();
            if (bc != bias) bc.close();
        }
        long[] biasShape = bias.shape();
        return Autograd.record(OP + "(" + act.name().toLowerCase() + ")", out,
                g -> backward(act, alpha, y, bias, yc, bc, out, g, biasShape), y, bias);
    }

    private static Tensor[] backward(ElementwiseKernels.BiasActivation act, double alpha, Tensor y, Tensor bias,
                                     Tensor yc, Tensor bc, Tensor out, Tensor g, long[] biasShape) {
        Tensor dy;
        if (act == ElementwiseKernels.BiasActivation.LINEAR) {
            dy = g;                                       // as add: the gradient passes through unchanged
        } else {
            Tensor gc = dense(g);
            dy = Tensor.empty(g.dtype(), g.device(), g.shape());
            boolean fromOutput = act.backwardFromOutput();
            g.backend().elementwise().biasActivationBackward(act, fromOutput ? null : yc, fromOutput ? null : bc,
                    fromOutput ? out : null, gc, dy, alpha);
            if (gc != g) gc.close();
        }
        Tensor gb = bias.requiresGrad() ? Reductions.sumToShape(dy, biasShape) : null;
        Tensor gy = y.requiresGrad() ? dy : null;
        if (gy == null && gb != dy && dy != g) dy.close();
        return new Tensor[] {gy, gb};
    }

    private static void validate(Tensor y, Tensor bias, ElementwiseKernels.BiasActivation act, double alpha) {
        if (act == null) throw new NullPointerException(OP + ": activation is null");
        Check.sameDevice(OP, y, bias);
        DType dtype = Check.sameDType(OP, y, bias);
        Check.floating(OP, y);
        long[] ys = y.shape();
        if (ys.length == 0) {
            throw new ShapeException(OP + ": y " + y.describe() + " is a scalar; expected at least one axis, the "
                    + "last of which the bias runs along");
        }
        long c = ys[ys.length - 1];
        if (bias.ndim() != 1 || bias.shape()[0] != c) {
            throw new ShapeException(OP + ": bias " + bias.describe() + " does not match y " + y.describe()
                    + "; expected a bias of shape " + Arrays.toString(new long[] {c}) + " (y's last axis), "
                    + dtype + " on " + y.device());
        }
        if (act == ElementwiseKernels.BiasActivation.LEAKY_RELU && !Double.isFinite(alpha)) {
            throw new SomaException(OP + ": leaky relu alpha must be finite, got " + alpha);
        }
    }

    /** {@code t} itself when contiguous, else a contiguous copy. Records nothing. */
    private static Tensor dense(Tensor t) {
        if (t.isContiguous()) return t;
        Tensor c = Tensor.empty(t.dtype(), t.device(), t.shape());
        t.backend().memory().copy(t, c);
        return c;
    }
}
