package dev.soma.backend;

import dev.soma.jni.CpuKernels;
import dev.soma.tensor.Tensor;

/** Reductions and softmax through native/src/reduce.cpp. */
final class CpuReductions implements ReductionKernels {
    @Override
    public void reduceRows(RowOp op, Tensor in, long rows, long cols, Tensor out) {
        CpuKernels.soma_cpu_reduce_rows(op.code, in.dtype().code(), rows, cols, in.address(), out.address());
    }

    @Override
    public boolean reduceLeading(RowOp op, Tensor in, long outer, long inner, Tensor out) {
        if (op != RowOp.SUM && op != RowOp.MEAN) return false;
        CpuKernels.soma_cpu_reduce_leading(op.code, in.dtype().code(), outer, inner, in.address(), out.address());
        return true;
    }

    @Override
    public boolean reduceMiddle(RowOp op, Tensor in, long batches, long reduced, long inner, Tensor out) {
        if (op != RowOp.SUM && op != RowOp.MEAN) return false;
        CpuKernels.soma_cpu_reduce_middle(op.code, in.dtype().code(), batches, reduced, inner, in.address(),
                out.address());
        return true;
    }

    @Override
    public boolean reduceMiddleBackward(RowOp op, Tensor gradOut, long batches, long reduced, long inner,
                                        Tensor gradIn) {
        if (op != RowOp.SUM && op != RowOp.MEAN) return false;
        CpuKernels.soma_cpu_reduce_middle_backward(op.code, gradIn.dtype().code(), batches, reduced, inner,
                gradOut.address(), gradIn.address());
        return true;
    }

    @Override
    public void reduceRowsBackward(RowOp op, Tensor in, Tensor gradOut, long rows, long cols, Tensor gradIn) {
        CpuKernels.soma_cpu_reduce_rows_backward(op.code, gradIn.dtype().code(), rows, cols,
                in == null ? 0L : in.address(), gradOut.address(), gradIn.address());
    }

    @Override
    public void argReduceRows(RowOp op, Tensor in, long rows, long cols, Tensor out) {
        CpuKernels.soma_cpu_arg_reduce_rows(op.code, in.dtype().code(), rows, cols, in.address(), out.address());
    }

    @Override
    public void softmaxRows(boolean log, Tensor in, long rows, long cols, Tensor out) {
        CpuKernels.soma_cpu_softmax_rows(log ? 1 : 0, in.dtype().code(), rows, cols, in.address(), out.address());
    }

    @Override
    public void softmaxRowsBackward(boolean log, Tensor y, Tensor gradOut, long rows, long cols, Tensor gradIn) {
        CpuKernels.soma_cpu_softmax_rows_backward(log ? 1 : 0, y.dtype().code(), rows, cols, y.address(),
                gradOut.address(), gradIn.address());
    }
}
