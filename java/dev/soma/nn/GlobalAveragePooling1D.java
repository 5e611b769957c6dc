package dev.soma.nn;

import dev.soma.errors.ShapeException;
import dev.soma.tensor.Tensor;

/** Mean over the time axis: {@code [B, T, F] -> [B, F]}, as Keras' GlobalAveragePooling1D (channels last). */
public final class GlobalAveragePooling1D extends Layer {
    @Override
    public String typeName() {
        return "global_average_pooling1d";
    }

    @Override
    public long[] computeOutputShape(long[] in) {
        if (in.length != 2) {
            throw new ShapeException(name() + ": expected input [batch, steps, features], got [batch, " + join(in) + "]");
        }
        return new long[] {in[1]};
    }

    @Override
    protected Tensor call(Tensor x, boolean training) {
        return x.mean(new int[] {1}, false);
    }
}
