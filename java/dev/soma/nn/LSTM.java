package dev.soma.nn;

import dev.soma.backend.RecurrentKernels.Cell;

/**
 * Long short-term memory as Keras' LSTM: gates i, f, c, o in one kernel {@code [features, 4*units]}, recurrent
 * kernel {@code [units, 4*units]} (orthogonal), bias {@code [4*units]} with the forget gate's part at 1
 * (unit_forget_bias).
 */
public final class LSTM extends RecurrentLayer<LSTM> {
    public LSTM(int units) {
        super(units);
    }

    @Override
    protected Cell cell() {
        return Cell.LSTM;
    }

    @Override
    public String typeName() {
        return "lstm";
    }

    @Override
    protected Initializer biasInitializer() {
        int u = units;
        return (out, fi, fo, rng) -> {
            java.util.Arrays.fill(out, 0);
            java.util.Arrays.fill(out, u, 2 * u, 1);
        };
    }
}
