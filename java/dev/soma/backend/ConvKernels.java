package dev.soma.backend;

import dev.soma.tensor.DType;
import dev.soma.tensor.Tensor;

/**
 * 2-d convolution and pooling over channels-last data. Contracts of every method: the op has validated
 * devices, the one floating dtype and the geometry; {@code x}/{@code gradX} are contiguous
 * {@code [N, H, W, C]}, {@code out}/{@code gradOut} contiguous {@code [N, OH, OW, OC]} (OC = C for pooling),
 * kernels contiguous HWIO {@code [KH, KW, C, OC]} (Keras' layout), biases contiguous {@code [OC]}; N > 0.
 * Outputs and gradients are fresh tensors, written whole.
 */
public interface ConvKernels {
    /**
     * Where a window op reads: sizes, output sizes, window, strides, dilations (1 = none) and the padding on
     * each side, as the op computed them (Keras' "same" puts the odd pixel at the bottom/right).
     */
    record Geometry(long n, long h, long w, long c, long oh, long ow, long oc, long kh, long kw, long sh, long sw,
                    long dh, long dw, long padTop, long padBottom, long padLeft, long padRight) {
        /**
         * Along an axis with one output position only its first window exists, wherever the stride would put a
         * second: the stride is then lowered to the least that still leaves one window (oneDNN checks the sizes
         * against it). oneDNN's JIT convolution crashed the JVM on a stride near 2^31 there (its offsets overflow).
         */
        public Geometry {
            if (oh == 1) sh = Math.min(sh, oneWindowStride(h, padTop + padBottom, kh, dh));
            if (ow == 1) sw = Math.min(sw, oneWindowStride(w, padLeft + padRight, kw, dw));
        }

        /** The least stride that fits one window of {@code k} taps (dilated by {@code d}) in the padded size, at least 1. */
        private static long oneWindowStride(long size, long pad, long k, long d) {
            return Math.max(1, size + pad - ((k - 1) * d + 1) + 1);
        }

        /** The {@code soma_conv_geom} array of native/src/conv.cpp. */
        public long[] nativeArray() {
            return new long[] {n, h, w, c, oh, ow, oc, kh, kw, sh, sw, dh, dw, padTop, padLeft};
        }

        @Override
        public String toString() {
            return "[" + n + ", " + h + ", " + w + ", " + c + "] -> [" + n + ", " + oh + ", " + ow + ", " + oc
                    + "], window " + kh + "x" + kw + ", strides " + sh + "x" + sw + ", dilation " + dh + "x" + dw
                    + ", padding t" + padTop + " b" + padBottom + " l" + padLeft + " r" + padRight;
        }
    }

    enum PoolKind { MAX, AVG }

    /** {@code out = conv(x, kernel) + bias} (bias may be null), then ReLU in place when {@code relu}. */
    void conv2d(Geometry g, Tensor x, Tensor kernel, Tensor bias, boolean relu, Tensor out);

    /** {@code gradX} from {@code gradOut} and {@code kernel}. */
    void conv2dBackwardData(Geometry g, Tensor gradOut, Tensor kernel, Tensor gradX);

    /** {@code gradKernel} (HWIO) from {@code x} and {@code gradOut}; {@code gradBias} too unless it is null. */
    void conv2dBackwardWeights(Geometry g, Tensor x, Tensor gradOut, Tensor gradKernel, Tensor gradBias);

    // bf16 mixed precision: the passes below read their activation operands from bf16 copies kept earlier
    // (MemoryKernels.keepBf16) where those cover them; null, closed or non-covering copies are ignored, and the
    // results are those of the plain passes while the operands hold the values the copies were made from.

    /** {@link #conv2d(Geometry, Tensor, Tensor, Tensor, boolean, Tensor)}, reading x from {@code x16}. */
    default void conv2d(Geometry g, Tensor x, Tensor kernel, Tensor bias, boolean relu, Tensor out, Bf16Copy x16) {
        conv2d(g, x, kernel, bias, relu, out);
    }

    /** {@link #conv2dBackwardData(Geometry, Tensor, Tensor, Tensor)}, reading gradOut from {@code gradOut16}. */
    default void conv2dBackwardData(Geometry g, Tensor gradOut, Tensor kernel, Tensor gradX, Bf16Copy gradOut16) {
        conv2dBackwardData(g, gradOut, kernel, gradX);
    }

    /** {@link #conv2dBackwardWeights(Geometry, Tensor, Tensor, Tensor, Tensor)}, reading x and gradOut from copies. */
    default void conv2dBackwardWeights(Geometry g, Tensor x, Tensor gradOut, Tensor gradKernel, Tensor gradBias,
                                       Bf16Copy x16, Bf16Copy gradOut16) {
        conv2dBackwardWeights(g, x, gradOut, gradKernel, gradBias);
    }

    /**
     * Both backward passes, {@code gradX} and {@code gradKernel} (and {@code gradBias} unless it is null): the two
     * methods above, one after the other, unless a backend does both at once.
     */
    default void conv2dBackward(Geometry g, Tensor x, Tensor gradOut, Tensor kernel, Tensor gradX, Tensor gradKernel,
                                Tensor gradBias, Bf16Copy x16, Bf16Copy gradOut16) {
        conv2dBackwardData(g, gradOut, kernel, gradX, gradOut16);
        conv2dBackwardWeights(g, x, gradOut, gradKernel, gradBias, x16, gradOut16);
    }

    /**
     * The implementations of the forward, backward-data and backward-weights passes for this geometry, e.g.
     * "onednn brg_conv_fwd:avx512_core" (for tests that guard against slow reference kernels). Computes nothing.
     */
    String[] conv2dImplementations(Geometry g, DType dtype, boolean bias);

    /**
     * Bytes of workspace {@link #pool2d} writes in training mode and {@link #pool2dBackward} reads (oneDNN's
     * max-pool indices); 0 when the backward needs none (average pooling, the f64 fallback).
     */
    long pool2dWorkspaceBytes(PoolKind kind, Geometry g, DType dtype);

    /**
     * Max or average (padding excluded) pooling. {@code workspace}: the address of
     * {@link #pool2dWorkspaceBytes} bytes that must stay alive until the backward ran, or 0 for inference.
     */
    void pool2d(PoolKind kind, Geometry g, Tensor x, Tensor out, long workspace);

    /**
     * {@code gradX} from {@code gradOut}; {@code workspace} is the training forward's (0 when it had none).
     * {@code x} is the forward input, needed only by max pooling without a workspace (null otherwise).
     */
    void pool2dBackward(PoolKind kind, Geometry g, Tensor x, Tensor gradOut, long workspace, Tensor gradX);

    /** The implementation of the forward and backward pooling pass, e.g. "onednn jit:avx512_core". */
    String[] pool2dImplementations(PoolKind kind, Geometry g, DType dtype);

    // A Conv2D with ReLU followed by max pooling as one op (ops.ConvolutionPooling): the convolution's output never
    // leaves the backend, and its gradient reaches the convolution's backward passes without a float32 ReLU mask
    // pass (in bf16 mode, already rounded). float32 only; a backend without it says so (the op then composes).

    /** Whether {@link #conv2dReluMaxPool} runs on this backend. */
    default boolean hasConv2dReluMaxPool() {
        return false;
    }

    /**
     * {@code out = max pool(relu(conv2d(x, kernel) + bias))} with convolution geometry {@code conv} and pooling
     * geometry {@code pool} (whose input is the convolution's output); {@code taps} (0: none, inference) is the
     * address of one int32 per output element, which the backward reads. {@code x16}: as {@link #conv2d}.
     */
    default void conv2dReluMaxPool(Geometry conv, Geometry pool, Tensor x, Tensor kernel, Tensor bias, Tensor out,
                                   long taps, Bf16Copy x16) {
        throw new UnsupportedOperationException("conv2dReluMaxPool: not implemented on this backend");
    }

    /**
     * The gradients of {@link #conv2dReluMaxPool} (each null when not wanted; {@code gradBias} only with
     * {@code gradKernel}) from {@code gradOut}, the forward's {@code out} and {@code taps}.
     */
    default void conv2dReluMaxPoolBackward(Geometry conv, Geometry pool, Tensor x, Tensor kernel, Tensor gradOut,
                                           Tensor out, long taps, Tensor gradX, Tensor gradKernel, Tensor gradBias,
                                           Bf16Copy x16) {
        throw new UnsupportedOperationException("conv2dReluMaxPool backward: not implemented on this backend");
    }
}
