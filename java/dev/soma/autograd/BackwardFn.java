package dev.soma.autograd;

import dev.soma.tensor.Tensor;

/**
 * The backward rule an op records: given the gradient of the loss with respect to the op's output, returns
 * the gradient with respect to each input, in input order (null for an input that needs none). Rules are
 * built from ops, so they run on any backend.
 */
@FunctionalInterface
public interface BackwardFn {
    Tensor[] apply(Tensor gradOutput);
}
