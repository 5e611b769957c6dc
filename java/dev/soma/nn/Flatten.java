package dev.soma.nn;

import dev.soma.tensor.Tensor;

/** Flattens every axis but the batch axis. */
public final class Flatten extends Layer {
    @Override
    public String typeName() {
        return "flatten";
    }

    @Override
    public long[] computeOutputShape(long[] in) {
        return new long[] {dev.soma.ops.Shapes.numel(in)};
    }

    @Override
    protected Tensor call(Tensor x, boolean training) {
        return x.reshape(x.size(0), -1);
    }
}
