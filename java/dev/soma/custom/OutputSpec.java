package dev.soma.custom;

import dev.soma.tensor.DType;

import java.util.Arrays;

/** The dtype and shape of one output of a custom op, computed from its inputs by the op's output rule. */
public record OutputSpec(DType dtype, long[] shape) {
    public OutputSpec {
        if (dtype == null || shape == null) throw new NullPointerException("OutputSpec: dtype and shape are required");
        shape = shape.clone();
    }

    public static OutputSpec of(DType dtype, long... shape) {
        return new OutputSpec(dtype, shape);
    }

    @Override
    public long[] shape() {
        return shape.clone();
    }

    @Override
    public String toString() {
        return dtype + Arrays.toString(shape);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof OutputSpec s && s.dtype == dtype && Arrays.equals(s.shape, shape);
    }

    @Override
    public int hashCode() {
        return 31 * dtype.hashCode() + Arrays.hashCode(shape);
    }
}
