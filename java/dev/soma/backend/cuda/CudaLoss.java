package dev.soma.backend.cuda;

import dev.soma.backend.LossKernels;
import dev.soma.backend.cuda.CudaReductions.Dense;
import dev.soma.jni.CudaKernels;
import dev.soma.tensor.Tensor;

/**
 * Fused losses of cuda-kernels/loss.cu with the CPU backend's semantics (native/src/loss.cpp). The batch mean
 * is deterministic: per-block or per-row double partials in a pooled workspace, added in a fixed order.
 */
final class CudaLoss implements LossKernels {
    private final CudaBackend backend;

    CudaLoss(CudaBackend backend) {
        this.backend = backend;
    }

    @Override
    public void meanSquaredError(Tensor pred, Tensor target, Tensor out) {
        long n = pred.numel();
        try (Dense p = Dense.of(backend, pred); Dense z = Dense.of(backend, target);
             Tensor ws = CudaReductions.workspace(backend, CudaKernels.WORKSPACE_LOSS_ELEMENTS, 1, n)) {
            backend.bind();
            int status = CudaKernels.soma_cuda_mse(pred.dtype().code(), n, p.address(), z.address(), out.address(),
                    address(ws), backend.stream());
            CudaStatus.kernel(status, "soma_cuda_mse", () -> "of " + pred.describe() + " and " + target.describe());
        }
    }

    @Override
    public void meanSquaredErrorBackward(Tensor pred, Tensor target, Tensor gradOut, Tensor gradPred) {
        try (Dense p = Dense.of(backend, pred); Dense z = Dense.of(backend, target)) {
            backend.bind();
            int status = CudaKernels.soma_cuda_mse_backward(pred.dtype().code(), pred.numel(), p.address(),
                    z.address(), gradOut.address(), gradPred.address(), backend.stream());
            CudaStatus.kernel(status, "soma_cuda_mse_backward", () -> "of " + pred.describe() + " and "
                    + target.describe());
        }
    }

    @Override
    public void binaryCrossEntropy(boolean fromLogits, Tensor x, Tensor targets, Tensor out) {
        long n = x.numel();
        try (Dense dx = Dense.of(backend, x); Dense z = Dense.of(backend, targets);
             Tensor ws = CudaReductions.workspace(backend, CudaKernels.WORKSPACE_LOSS_ELEMENTS, 1, n)) {
            backend.bind();
            int status = CudaKernels.soma_cuda_bce(fromLogits ? 1 : 0, x.dtype().code(), n, dx.address(),
                    z.address(), out.address(), address(ws), backend.stream());
            CudaStatus.kernel(status, "soma_cuda_bce", () -> (fromLogits ? "from logits " : "") + "of "
                    + x.describe() + " and " + targets.describe());
        }
    }

    @Override
    public void binaryCrossEntropyBackward(boolean fromLogits, Tensor x, Tensor targets, Tensor gradOut, Tensor gradX) {
        try (Dense dx = Dense.of(backend, x); Dense z = Dense.of(backend, targets)) {
            backend.bind();
            int status = CudaKernels.soma_cuda_bce_backward(fromLogits ? 1 : 0, x.dtype().code(), x.numel(),
                    dx.address(), z.address(), gradOut.address(), gradX.address(), backend.stream());
            CudaStatus.kernel(status, "soma_cuda_bce_backward", () -> (fromLogits ? "from logits " : "") + "of "
                    + x.describe() + " and " + targets.describe());
        }
    }

    @Override
    public void softmaxCrossEntropy(Tensor logits, Tensor targets, Tensor out, Tensor probs) {
        long rows = logits.size(0);
        long cols = logits.size(1);
        try (Dense x = Dense.of(backend, logits); Dense t = Dense.of(backend, targets);
             Tensor ws = CudaReductions.workspace(backend, CudaKernels.WORKSPACE_LOSS_ROWS, rows, cols)) {
            backend.bind();
            int status = CudaKernels.soma_cuda_softmax_cross_entropy(logits.dtype().code(), rows, cols, x.address(),
                    t.address(), out.address(), probs == null ? 0L : probs.address(), address(ws), backend.stream());
            CudaStatus.kernel(status, "soma_cuda_softmax_cross_entropy", () -> "of " + logits.describe() + " and "
                    + targets.describe());
        }
    }

    @Override
    public void softmaxCrossEntropyBackward(Tensor probs, Tensor targets, Tensor gradOut, Tensor gradLogits) {
        try (Dense p = Dense.of(backend, probs); Dense t = Dense.of(backend, targets)) {
            backend.bind();
            int status = CudaKernels.soma_cuda_softmax_cross_entropy_backward(probs.dtype().code(), probs.size(0),
                    probs.size(1), p.address(), t.address(), gradOut.address(), gradLogits.address(),
                    backend.stream());
            CudaStatus.kernel(status, "soma_cuda_softmax_cross_entropy_backward", () -> "of " + probs.describe()
                    + " and " + targets.describe());
        }
    }

    @Override
    public void sparseSoftmaxCrossEntropy(Tensor logits, Tensor labels, Tensor out, Tensor probs) {
        long rows = logits.size(0);
        long cols = logits.size(1);
        try (Dense x = Dense.of(backend, logits); Dense y = Dense.of(backend, labels);
             Tensor ws = CudaReductions.workspace(backend, CudaKernels.WORKSPACE_LOSS_ROWS, rows, cols)) {
            backend.bind();
            int status = CudaKernels.soma_cuda_sparse_softmax_cross_entropy(logits.dtype().code(), rows, cols,
                    x.address(), y.address(), out.address(), probs == null ? 0L : probs.address(), address(ws),
                    backend.stream());
            CudaStatus.kernel(status, "soma_cuda_sparse_softmax_cross_entropy", () -> "of " + logits.describe()
                    + " and labels " + labels.describe());
        }
    }

    @Override
    public void sparseSoftmaxCrossEntropyBackward(Tensor probs, Tensor labels, Tensor gradOut, Tensor gradLogits) {
        try (Dense p = Dense.of(backend, probs); Dense y = Dense.of(backend, labels)) {
            backend.bind();
            int status = CudaKernels.soma_cuda_sparse_softmax_cross_entropy_backward(probs.dtype().code(),
                    probs.size(0), probs.size(1), p.address(), y.address(), gradOut.address(), gradLogits.address(),
                    backend.stream());
            CudaStatus.kernel(status, "soma_cuda_sparse_softmax_cross_entropy_backward", () -> "of "
                    + probs.describe() + " and labels " + labels.describe());
        }
    }

    private static long address(Tensor t) {
        return t == null ? 0L : t.address();
    }
}
