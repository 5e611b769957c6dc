package dev.soma.nn;

import dev.soma.errors.ShapeException;
import dev.soma.ops.Pooling;
import dev.soma.tensor.Tensor;

/** Mean over height and width: {@code [batch, height, width, channels] -> [batch, channels]}, as Keras. */
public final class GlobalAveragePooling2D extends Layer {
    @Override
    public String typeName() {
        return "global_average_pooling2d";
    }

    @Override
    public long[] computeOutputShape(long[] in) {
        if (in.length != 3) {
            throw new ShapeException(name() + ": input [batch, " + join(in) + "] has rank " + (in.length + 1)
                    + ", expected rank 4 [batch, height, width, channels] (channels last)");
        }
        if (in[0] == 0 || in[1] == 0) {
            throw new ShapeException(name() + ": input [batch, " + join(in) + "] has an empty height or width");
        }
        return new long[] {in[2]};
    }

    @Override
    protected Tensor call(Tensor x, boolean training) {
        return Pooling.globalAveragePool(x);
    }
}
