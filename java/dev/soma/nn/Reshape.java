package dev.soma.nn;

import dev.soma.errors.ShapeException;
import dev.soma.ops.Shapes;
import dev.soma.tensor.Tensor;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/** Reshapes each example to {@code targetShape} (one size may be -1), as Keras' Reshape. */
public final class Reshape extends Layer {
    private final long[] target;

    public Reshape(long... targetShape) {
        this.target = targetShape.clone();
    }

    @Override
    public String typeName() {
        return "reshape";
    }

    @Override
    public long[] computeOutputShape(long[] in) {
        long n = Shapes.numel(in);
        long known = 1;
        int unknown = -1;
        long[] out = target.clone();
        for (int i = 0; i < out.length; i++) {
            if (out[i] == -1 && unknown < 0) unknown = i;
            else if (out[i] <= 0) throw new ShapeException(name() + ": invalid target shape " + Arrays.toString(target));
            else known *= out[i];
        }
        if (unknown >= 0) {
            if (n % known != 0) throw new ShapeException(name() + ": cannot reshape " + Arrays.toString(in) + " to " + Arrays.toString(target));
            out[unknown] = n / known;
        } else if (known != n) {
            throw new ShapeException(name() + ": cannot reshape " + Arrays.toString(in) + " (" + n + " values) to "
                    + Arrays.toString(target) + " (" + known + " values)");
        }
        return out;
    }

    @Override
    protected Tensor call(Tensor x, boolean training) {
        long[] out = outputShape();
        long[] full = new long[out.length + 1];
        full[0] = x.size(0);
        System.arraycopy(out, 0, full, 1, out.length);
        return x.reshape(full);
    }

    @Override
    public Map<String, Object> config() {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("target_shape", target);
        return c;
    }
}
