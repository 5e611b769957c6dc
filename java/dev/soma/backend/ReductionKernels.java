package dev.soma.backend;

import dev.soma.tensor.Tensor;

/**
 * Reductions, arg-extrema, softmax and log-softmax kernels. Every method works on contiguous tensors seen as
 * {@code rows x cols} matrices (the op has permuted the reduced axis or axes last) and one output per row.
 */
public interface ReductionKernels {
    /** Row reductions whose codes match {@code SOMA_REDUCE_*} in soma.h. VAR is the population variance. */
    enum RowOp {
        SUM(0), MEAN(1), MAX(2), MIN(3), VAR(4);

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

    /**
     * {@code out[c] = op(in[0..outer), c])} (SUM or MEAN) over the leading axis of a contiguous {@code outer x inner}
     * {@code in}, without transposing it. Returns false when the backend has no such kernel (the caller then
     * transposes and uses {@link #reduceRows}).
     */
    default boolean reduceLeading(RowOp op, Tensor in, long outer, long inner, Tensor out) {
        return false;
    }

    /**
     * {@code out[n, c] = op(in[n, 0..reduced), c])} (SUM or MEAN) over the middle axis of a contiguous
     * {@code batches x reduced x inner} {@code in} (a mean over time of {@code [B, T, F]}), without transposing
     * it. Returns false when the backend has no such kernel; by default only {@code batches == 1} is handled, as
     * {@link #reduceLeading}.
     */
    default boolean reduceMiddle(RowOp op, Tensor in, long batches, long reduced, long inner, Tensor out) {
        return batches == 1 && reduceLeading(op, in, reduced, inner, out);
    }

    /**
     * The input gradient of {@link #reduceMiddle} (SUM or MEAN): {@code gradIn[n, r, c] = gradOut[n, c]}, divided
     * by {@code reduced} for MEAN; both contiguous. Returns false when the backend has no such kernel (the caller
     * then goes through {@link #reduceRowsBackward} and a transpose).
     */
    default boolean reduceMiddleBackward(RowOp op, Tensor gradOut, long batches, long reduced, long inner,
                                         Tensor gradIn) {
        return false;
    }

    /**
     * The input gradient of {@link #reduceRows}: {@code gradIn} ({@code rows x cols}) from {@code gradOut}
     * ({@code rows}); {@code in} is the forward input, which SUM and MEAN do not read (may be null for them).
     * MAX/MIN route each row's gradient to its first arg-extremum. All contiguous, one floating dtype.
     */
    default void reduceRowsBackward(RowOp op, Tensor in, Tensor gradOut, long rows, long cols, Tensor gradIn) {
        throw unsupported("reduceRowsBackward");
    }

    /** {@code out[r]} (int32) = index of the first maximum (op MAX) or minimum (op MIN) of row r; any dtype. */
    default void argReduceRows(RowOp op, Tensor in, long rows, long cols, Tensor out) {
        throw unsupported("argReduceRows");
    }

    /** Row-wise softmax, or log-softmax when {@code log}; contiguous, same floating dtype and shape. */
    default void softmaxRows(boolean log, Tensor in, long rows, long cols, Tensor out) {
        throw unsupported("softmaxRows");
    }

    /** Input gradient of {@link #softmaxRows} from its output {@code y} and the output gradient. */
    default void softmaxRowsBackward(boolean log, Tensor y, Tensor gradOut, long rows, long cols, Tensor gradIn) {
        throw unsupported("softmaxRowsBackward");
    }

    /** What a backend that lacks a kernel of this family throws (new methods default to it). */
    private UnsupportedOperationException unsupported(String kernel) {
        return new UnsupportedOperationException("reductions." + kernel + ": not implemented on " + getClass().getSimpleName());
    }
}
