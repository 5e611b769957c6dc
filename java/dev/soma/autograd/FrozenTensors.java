package dev.soma.autograd;

import dev.soma.tensor.Tensor;

import java.util.List;

/**
 * Turns off {@code requiresGrad} on tensors for a block (typically a model's parameters, so that backward stops at
 * an input and leaves their gradients alone) and turns it back on, for exactly those that had it, on close.
 * <pre>{@code try (FrozenTensors f = FrozenTensors.freeze(model.trainableTensors())) { ... } }</pre>
 */
public final class FrozenTensors implements AutoCloseable {
    private final List<Tensor> tensors;
    private final boolean[] wanted;

    private FrozenTensors(List<Tensor> tensors) {
        this.tensors = List.copyOf(tensors);
        this.wanted = new boolean[this.tensors.size()];
        for (int i = 0; i < wanted.length; i++) {
            Tensor t = this.tensors.get(i);
            wanted[i] = t.requiresGrad();
            if (wanted[i]) t.setRequiresGrad(false);
        }
    }

    public static FrozenTensors freeze(List<Tensor> tensors) {
        return new FrozenTensors(tensors);
    }

    @Override
    public void close() {
        for (int i = 0; i < wanted.length; i++) if (wanted[i]) tensors.get(i).setRequiresGrad(true);
    }
}
