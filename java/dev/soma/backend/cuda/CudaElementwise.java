package dev.soma.backend.cuda;

import dev.soma.backend.ElementwiseKernels;
import dev.soma.jni.CudaKernels;
import dev.soma.ops.Shapes;
import dev.soma.tensor.Tensor;

import java.util.Arrays;

/** Element-wise kernels of cuda-kernels/elementwise.cu; inputs may be strided views, outputs are contiguous. */
final class CudaElementwise implements ElementwiseKernels {
    private final CudaBackend backend;

    CudaElementwise(CudaBackend backend) {
        this.backend = backend;
    }

    @Override
    public void binary(BinaryOp op, Tensor a, Tensor b, Tensor out) {
        long[] shape = out.shape();
        backend.bind();
        int status = CudaKernels.soma_cuda_binary(op.code, out.dtype().code(), shape.length, shape,
                a.address(), Shapes.broadcastStrides(a, shape), b.address(), Shapes.broadcastStrides(b, shape),
                out.address(), backend.stream());
        CudaStatus.kernel(status, "soma_cuda_binary", () -> op + " of " + a.describe() + " and " + b.describe()
                + " into " + Arrays.toString(shape));
    }

    @Override
    public void unary(UnaryOp op, Tensor x, Tensor out, double p0, double p1) {
        try (Dense dx = dense(x)) {
            backend.bind();
            int status = CudaKernels.soma_cuda_unary(op.code, x.dtype().code(), x.numel(), dx.address(), out.address(),
                    p0, p1, backend.stream());
            CudaStatus.kernel(status, "soma_cuda_unary", () -> op + " of " + x.describe());
        }
    }

    @Override
    public void unaryBackward(UnaryOp op, Tensor x, Tensor y, Tensor gradOut, Tensor gradIn, double p0, double p1) {
        try (Dense dx = dense(x); Dense dy = dense(y); Dense dg = dense(gradOut)) {
            backend.bind();
            int status = CudaKernels.soma_cuda_unary_backward(op.code, x.dtype().code(), x.numel(), dx.address(),
                    dy.address(), dg.address(), gradIn.address(), p0, p1, backend.stream());
            CudaStatus.kernel(status, "soma_cuda_unary_backward", () -> op + " of " + x.describe());
        }
    }

    @Override
    public void biasActivation(BiasActivation act, Tensor y, Tensor bias, Tensor out, double p0) {
        long cols = bias.numel();
        backend.bind();
        int status = CudaKernels.soma_cuda_bias_activation(act.code, y.dtype().code(),
                cols == 0 ? 0 : y.numel() / cols, cols, y.address(), bias.address(), out.address(), p0,
                backend.stream());
        CudaStatus.kernel(status, "soma_cuda_bias_activation", () -> act + " of " + y.describe() + " and "
                + bias.describe());
    }

    @Override
    public void biasActivationBackward(BiasActivation act, Tensor y, Tensor bias, Tensor out, Tensor gradOut,
                                       Tensor gradIn, double p0) {
        long cols = gradOut.shape()[gradOut.ndim() - 1];
        backend.bind();
        int status = CudaKernels.soma_cuda_bias_activation_backward(act.code, gradOut.dtype().code(),
                cols == 0 ? 0 : gradOut.numel() / cols, cols, y == null ? 0 : y.address(),
                bias == null ? 0 : bias.address(), out == null ? 0 : out.address(), gradOut.address(),
                gradIn.address(), p0, backend.stream());
        CudaStatus.kernel(status, "soma_cuda_bias_activation_backward", () -> act + " of " + gradOut.describe());
    }

    /** The unary kernels take dense arrays: a strided view is copied first (and the copy freed after). */
    private record Dense(Tensor tensor, Tensor copy) implements AutoCloseable {
        long address() {
            return tensor == null ? 0 : (copy != null ? copy : tensor).address();
        }

        @Override
        public void close() {
            if (copy != null) copy.close();
        }
    }

    private Dense dense(Tensor t) {
        if (t == null || t.isContiguous()) return new Dense(t, null);
        Tensor c = Tensor.empty(t.dtype(), t.device(), t.shape()).keep();
        backend.memory().copy(t, c);
        return new Dense(t, c);
    }

    @Override
    public void where(Tensor cond, Tensor a, Tensor b, Tensor out) {
        long[] shape = out.shape();
        backend.bind();
        int status = CudaKernels.soma_cuda_where(out.dtype().code(), shape.length, shape,
                cond.address(), Shapes.broadcastStrides(cond, shape), a.address(), Shapes.broadcastStrides(a, shape),
                b.address(), Shapes.broadcastStrides(b, shape), out.address(), backend.stream());
        CudaStatus.kernel(status, "soma_cuda_where", () -> "of " + cond.describe() + ", " + a.describe() + " and "
                + b.describe() + " into " + Arrays.toString(shape));
    }
}
