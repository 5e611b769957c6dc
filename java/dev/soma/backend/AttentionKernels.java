package dev.soma.backend;

import dev.soma.tensor.Tensor;

/**
 * Fused scaled-dot-product attention (online softmax; the score matrix is never stored). Tensors are rank 4,
 * {@code [batch, heads, time, features]}, with a unit stride in the last dimension (any strides elsewhere),
 * one floating dtype; the op has checked every shape. The lse ({@code [batch, heads, tq]}) and the optional
 * weights ({@code [batch, heads, tq, tk]}) are contiguous.
 */
public interface AttentionKernels {
    /**
     * What the kernels apply besides the product: the score scale, the causal flag, key lengths (int32
     * {@code [batch]}, contiguous, or null), a 0/1 key mask (int32, contiguous, read at
     * {@code b * maskBatchStride + i * maskQueryStride + j}, or null) and dropout on the weights with its
     * Philox (seed, stream).
     */
    record Spec(double scale, boolean causal, Tensor keyLengths, Tensor mask, long maskBatchStride,
                long maskQueryStride, double dropout, long seed, long stream) {}

    /** out and lse (and weights when not null) from q, k, v. */
    void forward(Spec spec, Tensor q, Tensor k, Tensor v, Tensor out, Tensor lse, Tensor weights);

    /** gradQ, gradK, gradV (written whole) from the forward's inputs, out, lse and the output gradient. */
    void backward(Spec spec, Tensor q, Tensor k, Tensor v, Tensor out, Tensor lse, Tensor gradOut, Tensor gradQ,
                  Tensor gradK, Tensor gradV);
}
