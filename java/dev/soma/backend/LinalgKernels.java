package dev.soma.backend;

import dev.soma.tensor.Tensor;

/**
 * Matrix products. Contract of both methods: the op has validated devices, the one floating dtype and the
 * shapes: {@code a} is {@code [..., M, K]} and {@code b} {@code [..., K, N]} (rank 2 or more each, any strides,
 * a stride of 0 broadcasts), their batch dimensions broadcast to {@code out}'s, and {@code out} is a fresh
 * contiguous {@code [batch..., M, N]} tensor of the same dtype.
 */
public interface LinalgKernels {
    /** {@code out = a @ b}, batched over the broadcast batch dimensions. */
    void matmul(Tensor a, Tensor b, Tensor out);

    /**
     * {@link #matmul(Tensor, Tensor, Tensor)} reading a and b from bf16 copies kept earlier
     * ({@link MemoryKernels#keepBf16}) where these cover them; null, closed or non-covering copies are ignored.
     * While the operands hold the values the copies were made from, the result is that of the plain call in the
     * same precision scope (the copies hold the same rounding); otherwise the copies' values are multiplied.
     */
    default void matmul(Tensor a, Tensor b, Tensor out, Bf16Copy a16, Bf16Copy b16) {
        matmul(a, b, out);
    }

    /**
     * {@code out = a @ b + bias} with {@code bias} a contiguous {@code [N]} vector of out's dtype added to every
     * row, in one kernel, reading bf16 copies as {@link #matmul(Tensor, Tensor, Tensor, Bf16Copy, Bf16Copy)} does.
     * Returns false, having written nothing, when the backend has no such kernel for these operands (the op then
     * runs the product and the add apart).
     */
    default boolean matmulBias(Tensor a, Tensor b, Tensor bias, Tensor out, Bf16Copy a16, Bf16Copy b16) {
        return false;
    }

    /**
     * The implementation {@link #matmul} would run for these operands, e.g. "onednn brg_matmul:avx512_core"
     * (for tests that guard against slow reference kernels, and for debug logs). Computes nothing.
     */
    String matmulImplementation(Tensor a, Tensor b, Tensor out);
}
