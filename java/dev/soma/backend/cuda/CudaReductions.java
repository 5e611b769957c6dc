package dev.soma.backend.cuda;

import dev.soma.backend.ReductionKernels;
import dev.soma.jni.CudaKernels;
import dev.soma.tensor.DType;
import dev.soma.tensor.Tensor;

/**
 * Reductions, arg-extrema, softmax and log-softmax of cuda-kernels/reduce.cu, with the CPU backend's semantics
 * (native/src/reduce.cpp). Inputs are contiguous by contract; a strided one is still copied to dense first.
 * Results are deterministic: the kernels use no atomics, and the partial results of split rows go through a
 * workspace taken from the pool for the call.
 */
final class CudaReductions implements ReductionKernels {
    private final CudaBackend backend;

    CudaReductions(CudaBackend backend) {
        this.backend = backend;
    }

    @Override
    public void reduceRows(RowOp op, Tensor in, long rows, long cols, Tensor out) {
        try (Dense x = Dense.of(backend, in);
             Tensor ws = workspace(backend, CudaKernels.WORKSPACE_REDUCE_ROWS, rows, cols)) {
            backend.bind();
            int status = CudaKernels.soma_cuda_reduce_rows(op.code, in.dtype().code(), rows, cols, x.address(),
                    out.address(), ws == null ? 0L : ws.address(), backend.stream());
            CudaStatus.kernel(status, "soma_cuda_reduce_rows", () -> op + " of " + in.describe() + " as " + rows
                    + " x " + cols);
        }
    }

    @Override
    public boolean reduceLeading(RowOp op, Tensor in, long outer, long inner, Tensor out) {
        if (op != RowOp.SUM && op != RowOp.MEAN) return false;
        try (Dense x = Dense.of(backend, in);
             Tensor ws = workspace(backend, CudaKernels.WORKSPACE_REDUCE_LEADING, outer, inner)) {
            backend.bind();
            int status = CudaKernels.soma_cuda_reduce_leading(op.code, in.dtype().code(), outer, inner, x.address(),
                    out.address(), ws == null ? 0L : ws.address(), backend.stream());
            CudaStatus.kernel(status, "soma_cuda_reduce_leading", () -> op + " of " + in.describe() + " as "
                    + outer + " x " + inner);
        }
        return true;
    }

    /** Batches of one take the chunked leading kernel; more, one chunk of rows per batch. */
    @Override
    public boolean reduceMiddle(RowOp op, Tensor in, long batches, long reduced, long inner, Tensor out) {
        if (op != RowOp.SUM && op != RowOp.MEAN) return false;
        if (batches == 1) return reduceLeading(op, in, reduced, inner, out);
        try (Dense x = Dense.of(backend, in)) {
            backend.bind();
            int status = CudaKernels.soma_cuda_reduce_middle(op.code, in.dtype().code(), batches, reduced, inner,
                    x.address(), out.address(), backend.stream());
            CudaStatus.kernel(status, "soma_cuda_reduce_middle", () -> op + " of " + in.describe() + " as "
                    + batches + " x " + reduced + " x " + inner);
        }
        return true;
    }

    @Override
    public boolean reduceMiddleBackward(RowOp op, Tensor gradOut, long batches, long reduced, long inner,
                                        Tensor gradIn) {
        if (op != RowOp.SUM && op != RowOp.MEAN) return false;
        try (Dense g = Dense.of(backend, gradOut)) {
            backend.bind();
            int status = CudaKernels.soma_cuda_reduce_middle_backward(op.code, gradIn.dtype().code(), batches, reduced,
                    inner, g.address(), gradIn.address(), backend.stream());
            CudaStatus.kernel(status, "soma_cuda_reduce_middle_backward", () -> op + " backward of "
                    + gradOut.describe() + " into " + gradIn.describe() + " as " + batches + " x " + reduced + " x "
                    + inner);
        }
        return true;
    }

    @Override
    public void reduceRowsBackward(RowOp op, Tensor in, Tensor gradOut, long rows, long cols, Tensor gradIn) {
        try (Dense x = Dense.of(backend, in); Dense g = Dense.of(backend, gradOut)) {
            backend.bind();
            int status = CudaKernels.soma_cuda_reduce_rows_backward(op.code, gradIn.dtype().code(), rows, cols,
                    x.address(), g.address(), gradIn.address(), backend.stream());
            CudaStatus.kernel(status, "soma_cuda_reduce_rows_backward", () -> op + " backward of "
                    + gradOut.describe() + " into " + gradIn.describe() + " as " + rows + " x " + cols);
        }
    }

    @Override
    public void argReduceRows(RowOp op, Tensor in, long rows, long cols, Tensor out) {
        try (Dense x = Dense.of(backend, in)) {
            backend.bind();
            int status = CudaKernels.soma_cuda_arg_reduce_rows(op.code, in.dtype().code(), rows, cols, x.address(),
                    out.address(), backend.stream());
            CudaStatus.kernel(status, "soma_cuda_arg_reduce_rows", () -> "arg" + op + " of " + in.describe()
                    + " as " + rows + " x " + cols);
        }
    }

    @Override
    public void softmaxRows(boolean log, Tensor in, long rows, long cols, Tensor out) {
        try (Dense x = Dense.of(backend, in)) {
            backend.bind();
            int status = CudaKernels.soma_cuda_softmax_rows(log ? 1 : 0, in.dtype().code(), rows, cols, x.address(),
                    out.address(), backend.stream());
            CudaStatus.kernel(status, "soma_cuda_softmax_rows", () -> (log ? "logSoftmax" : "softmax") + " of "
                    + in.describe() + " as " + rows + " x " + cols);
        }
    }

    @Override
    public void softmaxRowsBackward(boolean log, Tensor y, Tensor gradOut, long rows, long cols, Tensor gradIn) {
        try (Dense dy = Dense.of(backend, y); Dense g = Dense.of(backend, gradOut)) {
            backend.bind();
            int status = CudaKernels.soma_cuda_softmax_rows_backward(log ? 1 : 0, y.dtype().code(), rows, cols,
                    dy.address(), g.address(), gradIn.address(), backend.stream());
            CudaStatus.kernel(status, "soma_cuda_softmax_rows_backward", () -> (log ? "logSoftmax" : "softmax")
                    + " backward of " + y.describe() + " as " + rows + " x " + cols);
        }
    }

    /**
     * The device workspace a kernel of this family needs for a call of {@code kind} and size (doubles of
     * partial results), or null when it needs none. Taken from the pool and closed after the call: the pool
     * orders its reuse after the kernels on the same stream.
     */
    static Tensor workspace(CudaBackend backend, int kind, long rows, long cols) {
        long[] bytes = new long[1];
        CudaStatus.runtime(CudaKernels.soma_cuda_reduce_workspace(kind, rows, cols, bytes),
                "soma_cuda_reduce_workspace", () -> "kind " + kind + ", " + rows + " x " + cols);
        if (bytes[0] == 0) return null;
        return Tensor.empty(DType.F64, backend.device(), (bytes[0] + 7) / 8).keep();
    }

    /** A kernel operand as a dense array: the tensor itself, or a contiguous copy of a strided view (closed after). */
    record Dense(Tensor tensor, Tensor copy) implements AutoCloseable {
        static Dense of(CudaBackend backend, Tensor t) {
            if (t == null || t.isContiguous()) return new Dense(t, null);
            Tensor c = Tensor.empty(t.dtype(), t.device(), t.shape()).keep();
            backend.memory().copy(t, c);
            return new Dense(t, c);
        }

        long address() {
            return tensor == null ? 0L : (copy != null ? copy : tensor).address();
        }

        @Override
        public void close() {
            if (copy != null) copy.close();
        }
    }
}
