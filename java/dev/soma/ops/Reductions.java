package dev.soma.ops;

import dev.soma.autograd.Autograd;
import dev.soma.backend.ReductionKernels.RowOp;
import dev.soma.errors.ShapeException;
import dev.soma.tensor.Tensor;

import java.util.Arrays;

/** Reductions over any axes (keepDims or not), softmax and log-softmax. */
public final class Reductions {
    private Reductions() {}

    /** Sum of all elements: a 0-d tensor. */
    public static Tensor sum(Tensor t) {
        return sum(t, null, false);
    }

    /** Sum over {@code axes} (null or empty: all). */
    public static Tensor sum(Tensor t, int[] axes, boolean keepDims) {
        Tensor out = reduce("sum", RowOp.SUM, t, axes, keepDims);
        long[] inputShape = t.shape();
        long[] keptShape = keptShape(inputShape, Shapes.axes("sum", axes, t.ndim()));
        return Autograd.record("sum", out,
                g -> new Tensor[] {Shapes.expand(g.reshape(keptShape), inputShape).contiguous()}, t);
    }

    /**
     * Sums {@code t} down to {@code shape}, the inverse of broadcasting: the gradient of a broadcast input.
     * {@code shape} must broadcast to {@code t}'s shape.
     */
    public static Tensor sumToShape(Tensor t, long[] shape) {
        long[] from = t.shape();
        if (Arrays.equals(from, shape)) return t;
        long[] check = Shapes.broadcast("sumToShape", shape, from);
        if (!Arrays.equals(check, from)) {
            throw new ShapeException("sumToShape: " + Arrays.toString(shape) + " does not broadcast to " + t.describe());
        }
        int lead = from.length - shape.length;
        int[] axes = new int[from.length];
        int n = 0;
        for (int i = 0; i < from.length; i++) {
            if (i < lead || (shape[i - lead] == 1 && from[i] != 1)) axes[n++] = i;
        }
        Tensor summed = sum(t, Arrays.copyOf(axes, n), true);
        return summed.reshape(shape);
    }

    public static Tensor mean(Tensor t) {
        return mean(t, null, false);
    }

    public static Tensor mean(Tensor t, int[] axes, boolean keepDims) {
        throw new UnsupportedOperationException("mean: not implemented yet");
    }

    public static Tensor max(Tensor t, int[] axes, boolean keepDims) {
        throw new UnsupportedOperationException("max: not implemented yet");
    }

    public static Tensor min(Tensor t, int[] axes, boolean keepDims) {
        throw new UnsupportedOperationException("min: not implemented yet");
    }

    public static Tensor argmax(Tensor t, int axis, boolean keepDims) {
        throw new UnsupportedOperationException("argmax: not implemented yet");
    }

    public static Tensor variance(Tensor t, int[] axes, boolean keepDims) {
        throw new UnsupportedOperationException("variance: not implemented yet");
    }

    public static Tensor softmax(Tensor t, int axis) {
        throw new UnsupportedOperationException("softmax: not implemented yet");
    }

    public static Tensor logSoftmax(Tensor t, int axis) {
        throw new UnsupportedOperationException("logSoftmax: not implemented yet");
    }

    // ------------------------------------------------------------------ shared machinery

    /**
     * Runs a row reduction over {@code axes}: permutes the reduced axes to the end (a copy only when they are
     * not already trailing in a contiguous tensor), reduces each row, and shapes the result. Records nothing.
     */
    static Tensor reduce(String op, RowOp rowOp, Tensor t, int[] axes, boolean keepDims) {
        Check.open(op, t);
        Check.floating(op, t);
        int rank = t.ndim();
        int[] red = Shapes.axes(op, axes, rank);
        long[] shape = t.shape();
        boolean[] reduced = new boolean[rank];
        for (int a : red) reduced[a] = true;
        int[] order = new int[rank];
        int k = 0;
        long rows = 1;
        long cols = 1;
        for (int i = 0; i < rank; i++) {
            if (!reduced[i]) {
                order[k++] = i;
                rows *= shape[i];
            }
        }
        for (int i = 0; i < rank; i++) {
            if (reduced[i]) {
                order[k++] = i;
                cols *= shape[i];
            }
        }
        if (cols == 0 && rowOp != RowOp.SUM) {
            throw new ShapeException(op + ": cannot reduce over an empty axis of " + t.describe());
        }
        long[] outShape = keepDims ? keptShape(shape, red) : droppedShape(shape, reduced);
        Tensor out = Tensor.empty(t.dtype(), t.device(), outShape);
        Tensor rowsView;
        try (var g = dev.soma.autograd.GradMode.disable()) {
            rowsView = Shapes.permute(t, order).contiguous();
        }
        t.backend().reductions().reduceRows(rowOp, rowsView, rows, cols, out);
        if (rowsView != t) rowsView.close();
        return out;
    }

    static long[] keptShape(long[] shape, int[] reducedAxes) {
        long[] out = shape.clone();
        for (int a : reducedAxes) out[a] = 1;
        return out;
    }

    private static long[] droppedShape(long[] shape, boolean[] reduced) {
        int n = 0;
        for (boolean r : reduced) if (!r) n++;
        long[] out = new long[n];
        int k = 0;
        for (int i = 0; i < shape.length; i++) if (!reduced[i]) out[k++] = shape[i];
        return out;
    }
}
