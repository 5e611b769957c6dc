package dev.soma.backend.cuda;

import dev.soma.backend.LinalgKernels;
import dev.soma.backend.LossKernels;
import dev.soma.backend.RandomKernels;
import dev.soma.backend.ReductionKernels;
import dev.soma.tensor.Tensor;

/** The kernel families the CUDA backend does not have yet: every method says so. */
final class CudaUnsupported implements ReductionKernels, LossKernels, LinalgKernels, RandomKernels {
    static UnsupportedOperationException notYet(String what) {
        return new UnsupportedOperationException(what + " on CUDA is not implemented yet (issue: CUDA backend)");
    }

    @Override
    public void reduceRows(RowOp op, Tensor in, long rows, long cols, Tensor out) {
        throw notYet("reduceRows " + op);
    }

    @Override
    public void fill(Distribution dist, Tensor out, long seed, long stream, double a, double b) {
        throw notYet("random fill " + dist);
    }

    @Override
    public void matmul(Tensor a, Tensor b, Tensor out) {
        throw notYet("matmul");
    }

    @Override
    public String matmulImplementation(Tensor a, Tensor b, Tensor out) {
        throw notYet("matmul");
    }
}
