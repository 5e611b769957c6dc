package dev.soma.ops;

import dev.soma.tensor.Tensor;

/** Losses, each reduced to the mean over the batch (a 0-d tensor). Cross-entropies take logits and fuse log-softmax. */
public final class Losses {
    private Losses() {}

    public static Tensor meanSquaredError(Tensor predictions, Tensor targets) {
        throw new UnsupportedOperationException("meanSquaredError: not implemented yet");
    }

    public static Tensor binaryCrossEntropy(Tensor probabilities, Tensor targets) {
        throw new UnsupportedOperationException("binaryCrossEntropy: not implemented yet");
    }

    public static Tensor binaryCrossEntropyWithLogits(Tensor logits, Tensor targets) {
        throw new UnsupportedOperationException("binaryCrossEntropyWithLogits: not implemented yet");
    }

    public static Tensor categoricalCrossEntropy(Tensor logits, Tensor targetProbabilities) {
        throw new UnsupportedOperationException("categoricalCrossEntropy: not implemented yet");
    }

    public static Tensor sparseCategoricalCrossEntropy(Tensor logits, Tensor labels) {
        throw new UnsupportedOperationException("sparseCategoricalCrossEntropy: not implemented yet");
    }
}
