package dev.soma.backend;

import dev.soma.tensor.Tensor;

/** CPU implementation of {@link ElementwiseKernels}. */
final class CpuElementwise implements ElementwiseKernels {
    @Override
    public void binary(BinaryOp op, Tensor a, Tensor b, Tensor out) {
        throw new UnsupportedOperationException("elementwise binary: not implemented yet");
    }

    @Override
    public void unary(UnaryOp op, Tensor x, Tensor out, double p0, double p1) {
        throw new UnsupportedOperationException("elementwise unary: not implemented yet");
    }

    @Override
    public void unaryBackward(UnaryOp op, Tensor x, Tensor y, Tensor gradOut, Tensor gradIn, double p0, double p1) {
        throw new UnsupportedOperationException("elementwise unary backward: not implemented yet");
    }

    @Override
    public void where(Tensor cond, Tensor a, Tensor b, Tensor out) {
        throw new UnsupportedOperationException("where: not implemented yet");
    }
}
