package dev.soma.nn;

import dev.soma.tensor.Tensor;

/**
 * A layer whose output is {@code activation(z)}: a model whose loss undoes that activation (cross-entropy
 * after softmax or sigmoid) asks for {@code z} instead and uses the fused, stable loss on logits.
 */
public interface FoldableActivation {
    /** The final activation's name, e.g. "softmax". */
    String activationName();

    /** The forward pass without the final activation. */
    Tensor callWithoutActivation(Tensor x, boolean training);
}
