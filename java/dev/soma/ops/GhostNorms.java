package dev.soma.ops;

import dev.soma.autograd.GradMode;
import dev.soma.backend.ConvKernels;
import dev.soma.errors.ShapeException;
import dev.soma.errors.SomaException;
import dev.soma.jni.CpuKernels;
import dev.soma.tensor.DType;
import dev.soma.tensor.Tensor;

import java.util.Arrays;

/**
 * Per-example squared gradient norms of one layer's parameters for DP-SGD, from the layer's input and the loss
 * gradient at its pre-activation output, without forming the batch's per-example gradients ("ghost norms", Li et al.
 * 2021). Native CPU kernels (native/src/ghost_norm.cpp); every argument is checked here first. Not recorded for
 * autograd. Each returns a new tensor {@code [batch]} of the inputs' dtype.
 */
public final class GhostNorms {
    private GhostNorms() {}

    /** How a kernel forms the norm: the cheaper way for the shapes, or one way (for tests). */
    public enum Method {
        AUTO(0), PRODUCT(1), GRAM(2);

        final int code;

        Method(int code) {
            this.code = code;
        }
    }

    /**
     * Dense: {@code a [batch, ..., d]} the layer's input, {@code g [batch, ..., p]} the gradient at {@code a · W + b};
     * the middle axes (a sequence) are positions that share the weight.
     */
    public static Tensor linear(Tensor a, Tensor g, boolean bias, Method method) {
        String op = "ghostNorms.linear";
        Check.open(op, a, g);
        checkCpuFloat(op, a, g);
        if (a.ndim() < 2 || g.ndim() != a.ndim()) {
            throw new ShapeException(op + ": input " + a.describe() + " and output gradient " + g.describe()
                    + " must have the same rank >= 2 ([batch, ..., features])");
        }
        for (int i = 0; i < a.ndim() - 1; i++) {
            if (a.size(i) != g.size(i)) {
                throw new ShapeException(op + ": input " + a.describe() + " and output gradient " + g.describe()
                        + " must agree on every axis but the last");
            }
        }
        long batch = a.size(0);
        long d = a.size(-1);
        long p = g.size(-1);
        long positions = batch == 0 ? 0 : a.numel() / Math.max(1, batch * d);
        if (d == 0) positions = 1;
        Tensor out = Tensor.empty(a.dtype(), a.device(), batch);
        if (batch == 0) return out;
        try (Tensor ad = Convolution.dense(a); Tensor gd = Convolution.dense(g)) {
            CpuKernels.soma_cpu_ghost_norm_linear(a.dtype().code(), batch, positions, d, p, ad.address(), gd.address(),
                    bias ? 1 : 0, method.code, out.address());
        }
        return out;
    }

    /**
     * Conv2D: {@code x} the layer's NHWC input, {@code kernel} its HWIO kernel (for the geometry only), {@code g} the
     * gradient at the convolution's output {@code [batch, oh, ow, filters]}.
     */
    public static Tensor conv2d(Tensor x, Tensor kernel, Tensor g, int[] strides, String padding, int[] dilation,
                                boolean bias, Method method) {
        String op = "ghostNorms.conv2d";
        Check.open(op, x, kernel, g);
        checkCpuFloat(op, x, kernel, g);
        ConvKernels.Geometry geom = Convolution.geometry(op, x, kernel, null, strides, padding, dilation);
        long[] expected = {geom.n(), geom.oh(), geom.ow(), geom.oc()};
        if (!Arrays.equals(g.shape(), expected)) {
            throw new ShapeException(op + ": output gradient " + g.describe() + " must have the convolution's output shape "
                    + Arrays.toString(expected) + " for input " + x.describe() + " and kernel " + kernel.describe());
        }
        Tensor out = Tensor.empty(x.dtype(), x.device(), geom.n());
        if (geom.n() == 0) return out;
        try (Tensor xd = Convolution.dense(x); Tensor gd = Convolution.dense(g)) {
            CpuKernels.soma_cpu_ghost_norm_conv2d(x.dtype().code(), geom.nativeArray(), xd.address(), gd.address(),
                    bias ? 1 : 0, method.code, out.address());
        }
        return out;
    }

    /** Embedding: {@code ids [batch, ...]} int32, {@code g [batch, ..., d]} the gradient at the looked-up vectors. */
    public static Tensor embedding(Tensor ids, Tensor g) {
        String op = "ghostNorms.embedding";
        Check.open(op, ids, g);
        Check.dtype(op, ids, DType.I32);
        checkCpuFloat(op, g);
        if (!ids.device().isCpu()) throw new SomaException(op + ": ids " + ids.describe() + " must be on the CPU");
        if (ids.ndim() < 1 || g.ndim() != ids.ndim() + 1
                || !Arrays.equals(Arrays.copyOf(g.shape(), ids.ndim()), ids.shape())) {
            throw new ShapeException(op + ": output gradient " + g.describe() + " must have the ids' shape "
                    + ids.describe() + " plus one axis (the vector)");
        }
        long batch = ids.size(0);
        long positions = batch == 0 ? 0 : ids.numel() / batch;
        Tensor out = Tensor.empty(g.dtype(), g.device(), batch);
        if (batch == 0) return out;
        try (Tensor idd = Convolution.dense(ids); Tensor gd = Convolution.dense(g)) {
            CpuKernels.soma_cpu_ghost_norm_embedding(g.dtype().code(), batch, positions, g.size(-1), idd.address(),
                    gd.address(), out.address());
        }
        return out;
    }

    /** LayerNormalization's gamma and beta: {@code xhat} the normalised input and {@code g} the gradient at the output. */
    public static Tensor layerNorm(Tensor xhat, Tensor g, boolean gamma, boolean beta) {
        String op = "ghostNorms.layerNorm";
        Check.open(op, xhat, g);
        checkCpuFloat(op, xhat, g);
        if (xhat.ndim() < 2 || !Arrays.equals(xhat.shape(), g.shape())) {
            throw new ShapeException(op + ": normalised input " + xhat.describe() + " and output gradient "
                    + g.describe() + " must have the same shape of rank >= 2");
        }
        long batch = xhat.size(0);
        long d = xhat.size(-1);
        long positions = batch == 0 || d == 0 ? 0 : xhat.numel() / (batch * d);
        Tensor out = Tensor.empty(xhat.dtype(), xhat.device(), batch);
        if (batch == 0) return out;
        try (Tensor xd = Convolution.dense(xhat); Tensor gd = Convolution.dense(g)) {
            CpuKernels.soma_cpu_ghost_norm_layer_norm(g.dtype().code(), batch, positions, d, xd.address(), gd.address(),
                    gamma ? 1 : 0, beta ? 1 : 0, out.address());
        }
        return out;
    }

    private static void checkCpuFloat(String op, Tensor... ts) {
        Check.sameDevice(op, ts);
        Check.sameDType(op, ts);
        Check.floating(op, ts[0]);
        if (!ts[0].device().isCpu()) {
            throw new UnsupportedOperationException(op + ": only CPU tensors have a ghost-norm kernel, got "
                    + Check.list(ts) + " (DP-SGD on other devices takes the general per-example path)");
        }
    }

    /** Conv2D's weighted clipped-gradient sum: the weight (and bias) gradient for output gradient {@code g}. */
    public static void conv2dWeightGradients(Tensor x, Tensor kernel, Tensor g, int[] strides, String padding,
                                             int[] dilation, Tensor gradKernel, Tensor gradBias) {
        String op = "ghostNorms.conv2dWeightGradients";
        Check.open(op, x, kernel, g, gradKernel);
        ConvKernels.Geometry geom = Convolution.geometry(op, x, kernel, gradBias, strides, padding, dilation);
        long[] expected = {geom.n(), geom.oh(), geom.ow(), geom.oc()};
        if (!Arrays.equals(g.shape(), expected) || g.dtype() != x.dtype() || !Arrays.equals(gradKernel.shape(), kernel.shape())) {
            throw new ShapeException(op + ": output gradient " + g.describe() + " must be " + Arrays.toString(expected)
                    + " of " + x.dtype() + " and the kernel gradient " + gradKernel.describe() + " like " + kernel.describe());
        }
        try (GradMode.Guard guard = GradMode.disable(); Tensor xd = Convolution.dense(x); Tensor gd = Convolution.dense(g)) {
            if (geom.n() == 0) {
                x.backend().memory().fill(gradKernel, 0);
                if (gradBias != null) x.backend().memory().fill(gradBias, 0);
                return;
            }
            x.backend().conv().conv2dBackwardWeights(geom, xd, gd, gradKernel, gradBias);
        }
    }
}
