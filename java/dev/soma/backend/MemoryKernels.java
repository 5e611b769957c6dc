package dev.soma.backend;

import dev.soma.tensor.Tensor;

/** Fills, copies, casts and host transfers. Tensors are open and of the dtype the array or op implies. */
public interface MemoryKernels {
    /** Every element of the contiguous {@code dst} becomes {@code value}. */
    void fill(Tensor dst, double value);

    /** Element-wise copy between two tensors of equal shape and dtype, any strides. */
    void copy(Tensor src, Tensor dst);

    /** Converts the contiguous {@code src} into the contiguous {@code dst} of equal element count. */
    void cast(Tensor src, Tensor dst);

    /** {@code dst += src}; equal shapes and dtypes, {@code dst} contiguous, {@code src} any strides. */
    void accumulate(Tensor dst, Tensor src);

    /** Host arrays into a contiguous tensor of matching dtype and element count. */
    void write(Tensor dst, float[] data);

    void write(Tensor dst, double[] data);

    void write(Tensor dst, int[] data);

    /** A contiguous tensor into a host array of matching dtype and element count. */
    void read(Tensor src, float[] out);

    void read(Tensor src, double[] out);

    void read(Tensor src, int[] out);

    /**
     * bf16 mixed precision: {@code t}'s values rounded to bfloat16 now and kept, for several products to read
     * ({@link Bf16Copy}); null where no product would read t in bf16 (no bf16 scope on this thread, t not float32,
     * a device without bf16 products) or where no {@link dev.soma.memory.Scope} is open to free the copy.
     */
    default Bf16Copy keepBf16(Tensor t) {
        return null;
    }
}
