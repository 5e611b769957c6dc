package dev.soma.backend;

import dev.soma.tensor.Tensor;

/** Reductions, softmax and log-softmax kernels. */
public interface ReductionKernels {
    /** Row reductions whose codes match {@code SOMA_REDUCE_*} in soma.h. */
    enum RowOp {
        SUM(0), MEAN(1), MAX(2), MIN(3);

        public final int code;

        RowOp(int code) {
            this.code = code;
        }
    }

    /**
     * {@code out[r] = op(in[r, 0..cols))} for a contiguous {@code in} seen as {@code rows x cols} and a
     * contiguous {@code out} of {@code rows} elements, same floating dtype.
     */
    void reduceRows(RowOp op, Tensor in, long rows, long cols, Tensor out);
}
