package dev.soma.nn;

import dev.soma.ops.Pooling;
import dev.soma.tensor.Tensor;

import java.util.Map;

/** Max pooling, as Keras' MaxPooling2D (see {@link Pooling2D} for the shared arguments). */
public final class MaxPooling2D extends Pooling2D<MaxPooling2D> {
    /** A 2x2 pool. */
    public MaxPooling2D() {
        this(2);
    }

    public MaxPooling2D(int poolSize) {
        this(new int[] {poolSize, poolSize});
    }

    /** {@code poolSize}: (height, width). */
    public MaxPooling2D(int[] poolSize) {
        super(poolSize);
    }

    @Override
    public String typeName() {
        return "max_pooling2d";
    }

    @Override
    protected Tensor call(Tensor x, boolean training) {
        return Pooling.maxPool2d(x, poolSize, strides, padding);
    }

    static MaxPooling2D fromConfig(Map<String, Object> c) {
        return configure(new MaxPooling2D(ConvLayer2D.pairOf(c, "pool_size")), c);
    }
}
