package dev.soma.autograd;

import dev.soma.tensor.Tensor;

/**
 * An op as a value: a name for messages and a function of tensors whose (first) output is differentiable.
 * Custom ops ({@code dev.soma.custom.CustomOp}) are NamedOps, so {@link Gradcheck#check(NamedOp, Tensor...)}
 * takes them directly.
 */
public interface NamedOp {
    String name();

    Tensor apply(Tensor... inputs);
}
