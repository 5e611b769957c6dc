package dev.soma.model;

import dev.soma.ops.Shapes;

import java.util.concurrent.atomic.AtomicInteger;

/** A functional model's input: a per-example shape (no batch axis), as Keras' {@code Input(shape=...)}. */
public final class Input extends SymbolicTensor {
    private static final AtomicInteger COUNTER = new AtomicInteger();

    private Input(long[] shape, String name) {
        super(shape, null, name);
    }

    /** An input of per-example shape {@code shape}, named "input_N". */
    public static Input of(long... shape) {
        Shapes.checkShape("Input", shape);
        return new Input(shape, "input_" + COUNTER.incrementAndGet());
    }

    @Override
    public Input named(String newName) {
        super.named(newName);
        return this;
    }
}
