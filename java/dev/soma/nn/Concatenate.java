package dev.soma.nn;

import dev.soma.errors.ShapeException;
import dev.soma.ops.Shapes;
import dev.soma.tensor.Tensor;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Joins inputs along one axis, as Keras' Concatenate. The axis counts the batch axis (0), as in Keras, and
 * may be negative (-1, the default, is the last axis); the batch axis itself cannot be joined.
 */
public final class Concatenate extends Merge {
    private final int axis;

    public Concatenate() {
        this(-1);
    }

    public Concatenate(int axis) {
        this.axis = axis;
    }

    @Override
    public String typeName() {
        return "concatenate";
    }

    public int axis() {
        return axis;
    }

    @Override
    public long[] computeOutputShape(List<long[]> inputShapes) {
        checkShapes(inputShapes, false);
        long[] first = inputShapes.get(0);
        for (long[] s : inputShapes) {
            if (s.length != first.length) {
                throw new ShapeException(name() + ": inputs must have the same rank, got " + shapesText(inputShapes));
            }
        }
        int d = perExampleAxis(first.length);
        long[] out = first.clone();
        out[d] = 0;
        for (long[] s : inputShapes) {
            for (int k = 0; k < s.length; k++) {
                if (k != d && s[k] != first[k]) {
                    throw new ShapeException(name() + ": inputs may differ only along axis " + axis + ", got "
                            + shapesText(inputShapes));
                }
            }
            out[d] = Math.addExact(out[d], s[d]);
        }
        return out;
    }

    /** The joined axis among the per-example axes, for inputs of per-example rank {@code rank}. */
    private int perExampleAxis(int rank) {
        int full = rank + 1;
        int a = axis < 0 ? axis + full : axis;
        if (a < 1 || a >= full) {
            throw new ShapeException(name() + ": axis " + axis + " is out of range for inputs of rank " + full
                    + " (with the batch axis); expected 1 to " + (full - 1) + " or -1 to " + (-rank));
        }
        return a - 1;
    }

    @Override
    protected Tensor call(List<Tensor> inputs, boolean training) {
        int d = perExampleAxis(inputs.get(0).ndim() - 1) + 1;
        return Shapes.concat(d, inputs.toArray(Tensor[]::new));
    }

    @Override
    public Map<String, Object> config() {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("axis", axis);
        return c;
    }
}
