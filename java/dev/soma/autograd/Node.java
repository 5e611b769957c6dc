package dev.soma.autograd;

import dev.soma.tensor.Tensor;

/** One recorded op on the tape: its name (for messages), its inputs and its backward rule. */
public record Node(String op, Tensor[] inputs, BackwardFn backward) {}
