package dev.soma.backend;

import dev.soma.jni.CpuKernels;
import dev.soma.tensor.Tensor;

/** Reductions through native/src/reduce.cpp. */
final class CpuReductions implements ReductionKernels {
    @Override
    public void reduceRows(RowOp op, Tensor in, long rows, long cols, Tensor out) {
        CpuKernels.soma_cpu_reduce_rows(op.code, in.dtype().code(), rows, cols, in.address(), out.address());
    }
}
