package dev.soma.nn;

import dev.soma.backend.RecurrentKernels.Cell;

import java.util.Map;

/**
 * Gated recurrent unit as Keras' GRU: gates z, r, h. With reset_after=True (Keras' default) the reset gate
 * multiplies the recurrent projection after the matrix product, bias {@code [2, 3*units]} (input bias, recurrent
 * bias); with reset_after=False (the original GRU) it multiplies h_{t-1} before the candidate's product, bias
 * {@code [3*units]}.
 */
public final class GRU extends RecurrentLayer<GRU> {
    private boolean resetAfter = true;

    public GRU(int units) {
        super(units);
    }

    /** Keras' reset_after (default true). Decides the bias shape, so it must be set before the layer is built. */
    public GRU resetAfter(boolean on) {
        if (isBuilt() && on != resetAfter) {
            throw new IllegalStateException(name() + ": reset_after must be set before the layer is built");
        }
        this.resetAfter = on;
        return this;
    }

    public boolean isResetAfter() {
        return resetAfter;
    }

    @Override
    protected Cell cell() {
        return resetAfter ? Cell.GRU : Cell.GRU_RESET_BEFORE;
    }

    @Override
    public String typeName() {
        return "gru";
    }

    @Override
    protected long[] biasShape() {
        return resetAfter ? new long[] {2, 3L * units} : new long[] {3L * units};
    }

    @Override
    public Map<String, Object> config() {
        Map<String, Object> c = super.config();
        c.put("reset_after", resetAfter);
        return c;
    }

    /** Rebuilds from {@link #config()}; reset_after absent (older checkpoints) means true. */
    static GRU fromConfig(Map<String, Object> c) {
        GRU g = new GRU(LayerRegistry.intOf(c, "units"));
        g.resetAfter(!c.containsKey("reset_after") || LayerRegistry.boolOf(c, "reset_after"));
        g.configure(c);
        return g;
    }
}
