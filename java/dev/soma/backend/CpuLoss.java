package dev.soma.backend;

import dev.soma.jni.CpuKernels;
import dev.soma.tensor.Tensor;

/** CPU implementation of {@link LossKernels} through native/src/loss.cpp. */
final class CpuLoss implements LossKernels {
    @Override
    public void meanSquaredError(Tensor pred, Tensor target, Tensor out) {
        CpuKernels.soma_cpu_mse(pred.dtype().code(), pred.numel(), pred.address(), target.address(), out.address());
    }

    @Override
    public void meanSquaredErrorBackward(Tensor pred, Tensor target, Tensor gradOut, Tensor gradPred) {
        CpuKernels.soma_cpu_mse_backward(pred.dtype().code(), pred.numel(), pred.address(), target.address(),
                gradOut.address(), gradPred.address());
    }

    @Override
    public void binaryCrossEntropy(boolean fromLogits, Tensor x, Tensor targets, Tensor out) {
        CpuKernels.soma_cpu_bce(fromLogits ? 1 : 0, x.dtype().code(), x.numel(), x.address(), targets.address(),
                out.address());
    }

    @Override
    public void binaryCrossEntropyBackward(boolean fromLogits, Tensor x, Tensor targets, Tensor gradOut, Tensor gradX) {
        CpuKernels.soma_cpu_bce_backward(fromLogits ? 1 : 0, x.dtype().code(), x.numel(), x.address(),
                targets.address(), gradOut.address(), gradX.address());
    }

    @Override
    public void softmaxCrossEntropy(Tensor logits, Tensor targets, Tensor out, Tensor probs) {
        CpuKernels.soma_cpu_softmax_cross_entropy(logits.dtype().code(), logits.size(0), logits.size(1),
                logits.address(), targets.address(), out.address(), probs == null ? 0L : probs.address());
    }

    @Override
    public void softmaxCrossEntropyBackward(Tensor probs, Tensor targets, Tensor gradOut, Tensor gradLogits) {
        CpuKernels.soma_cpu_softmax_cross_entropy_backward(probs.dtype().code(), probs.size(0), probs.size(1),
                probs.address(), targets.address(), gradOut.address(), gradLogits.address());
    }

    @Override
    public void sparseSoftmaxCrossEntropy(Tensor logits, Tensor labels, Tensor out, Tensor probs) {
        CpuKernels.soma_cpu_sparse_softmax_cross_entropy(logits.dtype().code(), logits.size(0), logits.size(1),
                logits.address(), labels.address(), out.address(), probs == null ? 0L : probs.address());
    }

    @Override
    public void sparseSoftmaxCrossEntropyBackward(Tensor probs, Tensor labels, Tensor gradOut, Tensor gradLogits) {
        CpuKernels.soma_cpu_sparse_softmax_cross_entropy_backward(probs.dtype().code(), probs.size(0), probs.size(1),
                probs.address(), labels.address(), gradOut.address(), gradLogits.address());
    }
}
