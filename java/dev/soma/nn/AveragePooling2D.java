package dev.soma.nn;

import dev.soma.ops.Pooling;
import dev.soma.tensor.Tensor;

import java.util.Map;

/**
 * Average pooling, as Keras' AveragePooling2D (see {@link Pooling2D} for the shared arguments); with "same"
 * padding the padded positions are left out of each average.
 */
public final class AveragePooling2D extends Pooling2D<AveragePooling2D> {
    /** A 2x2 pool. */
    public AveragePooling2D() {
        this(2);
    }

    public AveragePooling2D(int poolSize) {
        this(new int[] {poolSize, poolSize});
    }

    /** {@code poolSize}: (height, width). */
    public AveragePooling2D(int[] poolSize) {
        super(poolSize);
    }

    @Override
    public String typeName() {
        return "average_pooling2d";
    }

    @Override
    protected Tensor call(Tensor x, boolean training) {
        return Pooling.avgPool2d(x, poolSize, strides, padding);
    }

    static AveragePooling2D fromConfig(Map<String, Object> c) {
        return configure(new AveragePooling2D(ConvLayer2D.pairOf(c, "pool_size")), c);
    }
}
