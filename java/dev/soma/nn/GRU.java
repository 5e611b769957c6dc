package dev.soma.nn;

import dev.soma.backend.RecurrentKernels.Cell;

/**
 * Gated recurrent unit as Keras' GRU with its default reset_after=True: gates z, r, h; the reset gate multiplies
 * the recurrent projection after the matrix product; bias {@code [2, 3*units]} (input bias, recurrent bias).
 * reset_after=False is not implemented.
 */
public final class GRU extends RecurrentLayer {
    public GRU(int units) {
        super(units);
    }

    /** Keras' reset_after; only true (the default) is implemented. */
    public GRU resetAfter(boolean on) {
        if (!on) throw new UnsupportedOperationException(name() + ": reset_after=False is not implemented yet");
        return this;
    }

    @Override
    protected Cell cell() {
        return Cell.GRU;
    }

    @Override
    public String typeName() {
        return "gru";
    }

    @Override
    protected long[] biasShape() {
        return new long[] {2, 3L * units};
    }
}
