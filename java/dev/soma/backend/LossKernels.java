package dev.soma.backend;

import dev.soma.tensor.Tensor;

/**
 * Fused loss kernels. Inputs are contiguous and of one floating dtype (labels: int32, validated in range);
 * {@code out} and {@code gradOut} are one-element tensors; every loss is the mean over the batch. Backward
 * methods write the gradient of the predictions or logits only: targets get none.
 */
public interface LossKernels {
    /** {@code out = mean((pred - target)^2)} over all elements. */
    default void meanSquaredError(Tensor pred, Tensor target, Tensor out) {
        throw unsupported("meanSquaredError");
    }

    default void meanSquaredErrorBackward(Tensor pred, Tensor target, Tensor gradOut, Tensor gradPred) {
        throw unsupported("meanSquaredErrorBackward");
    }

    /** Binary cross-entropy from probabilities (clamped to [1e-7, 1 - 1e-7]) or, when {@code fromLogits}, logits. */
    default void binaryCrossEntropy(boolean fromLogits, Tensor x, Tensor targets, Tensor out) {
        throw unsupported("binaryCrossEntropy");
    }

    default void binaryCrossEntropyBackward(boolean fromLogits, Tensor x, Tensor targets, Tensor gradOut, Tensor gradX) {
        throw unsupported("binaryCrossEntropyBackward");
    }

    /**
     * Softmax cross-entropy of {@code [rows, cols]} logits against target probabilities of the same shape;
     * {@code probs} (same shape, or null when no backward will run) receives softmax(logits).
     */
    default void softmaxCrossEntropy(Tensor logits, Tensor targets, Tensor out, Tensor probs) {
        throw unsupported("softmaxCrossEntropy");
    }

    default void softmaxCrossEntropyBackward(Tensor probs, Tensor targets, Tensor gradOut, Tensor gradLogits) {
        throw unsupported("softmaxCrossEntropyBackward");
    }

    /** As {@link #softmaxCrossEntropy} with int32 labels {@code [rows]}, each in {@code [0, cols)}. */
    default void sparseSoftmaxCrossEntropy(Tensor logits, Tensor labels, Tensor out, Tensor probs) {
        throw unsupported("sparseSoftmaxCrossEntropy");
    }

    default void sparseSoftmaxCrossEntropyBackward(Tensor probs, Tensor labels, Tensor gradOut, Tensor gradLogits) {
        throw unsupported("sparseSoftmaxCrossEntropyBackward");
    }

    /** What a backend that lacks a kernel of this family throws (new methods default to it). */
    private UnsupportedOperationException unsupported(String kernel) {
        return new UnsupportedOperationException("losses." + kernel + ": not implemented on " + getClass().getSimpleName());
    }
}
