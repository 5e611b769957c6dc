package dev.soma.nn;

import dev.soma.errors.DTypeException;
import dev.soma.errors.ShapeException;
import dev.soma.tensor.Tensor;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * A layer that joins several inputs into one (Add, Multiply, Concatenate), used in functional models. It has
 * no parameters and no build step: every call checks its inputs' shapes afresh, so one merge layer may be
 * applied to different shapes. The single-input {@link Layer#apply} does not apply and says so.
 */
public abstract class Merge extends Layer {
    /** Output shape (without batch) for the inputs' shapes (without batch); validates them, naming this layer. */
    public abstract long[] computeOutputShape(List<long[]> inputShapes);

    /** Joins a batch of inputs whose shapes {@link #computeOutputShape(List)} accepted. */
    protected abstract Tensor call(List<Tensor> inputs, boolean training);

    /** Runs the merge on batches {@code [batch, ...shape_i]}, checking count, shapes, dtypes and batch sizes. */
    public final Tensor apply(List<Tensor> inputs, boolean training) {
        if (inputs.size() < 2) {
            throw new ShapeException(name() + ": a merge layer needs at least 2 inputs, got " + inputs.size());
        }
        List<long[]> shapes = new ArrayList<>(inputs.size());
        Tensor first = inputs.get(0);
        for (Tensor t : inputs) {
            t.checkOpen(name());
            if (t.ndim() == 0) throw new ShapeException(name() + ": input " + t.describe() + " has no batch dimension");
            if (t.dtype() != first.dtype()) {
                throw new DTypeException(name() + ": inputs differ in dtype: " + describe(inputs));
            }
            if (t.size(0) != first.size(0)) {
                throw new ShapeException(name() + ": inputs differ in batch size: " + describe(inputs));
            }
            long[] s = t.shape();
            shapes.add(Arrays.copyOfRange(s, 1, s.length));
        }
        computeOutputShape(shapes);
        return call(inputs, training);
    }

    /** Checks the common preconditions: at least two inputs, and (when {@code sameShape}) identical shapes. */
    protected final void checkShapes(List<long[]> shapes, boolean sameShape) {
        if (shapes.size() < 2) {
            throw new ShapeException(name() + ": a merge layer needs at least 2 inputs, got " + shapes.size());
        }
        if (!sameShape) return;
        for (long[] s : shapes) {
            if (!Arrays.equals(s, shapes.get(0))) {
                throw new ShapeException(name() + ": inputs must all have the same shape, got " + shapesText(shapes));
            }
        }
    }

    protected static String shapesText(List<long[]> shapes) {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < shapes.size(); i++) b.append(i == 0 ? "" : ", ").append(Arrays.toString(shapes.get(i)));
        return b.toString();
    }

    private static String describe(List<Tensor> ts) {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < ts.size(); i++) b.append(i == 0 ? "" : ", ").append(ts.get(i).describe());
        return b.toString();
    }

    @Override
    public final long[] computeOutputShape(long[] inputShape) {
        throw new UnsupportedOperationException(name() + ": a merge layer takes a list of inputs "
                + "(computeOutputShape(List<long[]>)), not one shape " + Arrays.toString(inputShape));
    }

    @Override
    protected final Tensor call(Tensor x, boolean training) {
        throw new UnsupportedOperationException(name() + ": a merge layer takes a list of inputs (apply(List<Tensor>, "
                + "training)), not one tensor " + x.describe());
    }
}
