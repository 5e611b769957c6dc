package dev.soma.data;

import dev.soma.tensor.Tensor;

/**
 * One batch in host memory: features as floats, targets as int class labels or floats. Tensors are made
 * on the training thread (inside its step scope) from these arrays.
 */
public record Batch(float[] x, long[] xShape, int[] yLabels, float[] yValues, long[] yShape) {
    public int size() {
        return (int) xShape[0];
    }

    public Tensor features() {
        return Tensor.of(x, xShape);
    }

    public Tensor targets() {
        return yLabels != null ? Tensor.ofInts(yLabels, yShape) : Tensor.of(yValues, yShape);
    }
}
