package dev.soma.backend;

import dev.soma.jni.CpuKernels;
import dev.soma.ops.Shapes;
import dev.soma.tensor.Tensor;

/**
 * CPU implementation of {@link ElementwiseKernels} through native/src/elementwise.cpp. Broadcast operands
 * travel as stride-0 views of {@code out}'s shape; the kernel coalesces dimensions and picks its fast paths.
 */
final class CpuElementwise implements ElementwiseKernels {
    @Override
    public void binary(BinaryOp op, Tensor a, Tensor b, Tensor out) {
        long[] shape = out.shape();
        CpuKernels.soma_cpu_binary(op.code, a.dtype().code(), shape.length, shape,
                a.address(), Shapes.broadcastStrides(a, shape), b.address(), Shapes.broadcastStrides(b, shape),
                out.address());
    }

    @Override
    public void unary(UnaryOp op, Tensor x, Tensor out, double p0, double p1) {
        CpuKernels.soma_cpu_unary(op.code, x.dtype().code(), x.numel(), x.address(), out.address(), p0, p1);
    }

    @Override
    public void unaryBackward(UnaryOp op, Tensor x, Tensor y, Tensor gradOut, Tensor gradIn, double p0, double p1) {
        CpuKernels.soma_cpu_unary_backward(op.code, x.dtype().code(), x.numel(), x.address(),
                y == null ? 0L : y.address(), gradOut.address(), gradIn.address(), p0, p1);
    }

    @Override
    public void biasActivation(BiasActivation act, Tensor y, Tensor bias, Tensor out, double p0) {
        long cols = bias.numel();
        CpuKernels.soma_cpu_bias_activation(act.code, y.dtype().code(), cols == 0 ? 0 : y.numel() / cols, cols,
                y.address(), bias.address(), out.address(), p0);
    }

    @Override
    public void biasActivationBackward(BiasActivation act, Tensor y, Tensor bias, Tensor out, Tensor gradOut,
                                       Tensor gradIn, double p0) {
        long cols = gradOut.shape()[gradOut.ndim() - 1];
        CpuKernels.soma_cpu_bias_activation_backward(act.code, gradOut.dtype().code(),
                cols == 0 ? 0 : gradOut.numel() / cols, cols, address(y), address(bias), address(out),
                gradOut.address(), gradIn.address(), p0);
    }

    private static long address(Tensor t) {
        return t == null ? 0L : t.address();
    }

    @Override
    public void where(Tensor cond, Tensor a, Tensor b, Tensor out) {
        long[] shape = out.shape();
        CpuKernels.soma_cpu_where(a.dtype().code(), shape.length, shape,
                cond.address(), Shapes.broadcastStrides(cond, shape), a.address(), Shapes.broadcastStrides(a, shape),
                b.address(), Shapes.broadcastStrides(b, shape), out.address());
    }
}
