package dev.soma.nn;

import dev.soma.backend.RecurrentKernels.Cell;

/** Keras' SimpleRNN: {@code h_t = activation(x_t W + h_{t-1} U + b)}. */
public final class SimpleRNN extends RecurrentLayer<SimpleRNN> {
    public SimpleRNN(int units) {
        super(units);
    }

    @Override
    protected Cell cell() {
        return Cell.SIMPLE;
    }

    @Override
    public String typeName() {
        return "simple_rnn";
    }
}
