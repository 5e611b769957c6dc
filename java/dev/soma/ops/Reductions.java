package dev.soma.ops;

import dev.soma.autograd.Autograd;
import dev.soma.autograd.GradMode;
import dev.soma.backend.ReductionKernels.RowOp;
import dev.soma.errors.ShapeException;
import dev.soma.tensor.DType;
import dev.soma.tensor.Tensor;

import java.util.Arrays;

/**
 * Reductions over any axes (keepDims or not), arg-extrema, softmax and log-softmax. Every kernel works on
 * rows: the reduced axes are permuted last (a copy only when they are not already trailing in a contiguous
 * tensor), each row gives one output. Backward rules are fused native kernels on the same row layout.
 */
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
        Check.open("sumToShape", t);
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

    /** Mean of all elements: a 0-d tensor. */
    public static Tensor mean(Tensor t) {
        return mean(t, null, false);
    }

    /** Mean over {@code axes} (null or empty: all). Backward: the gradient divided by the count, broadcast. */
    public static Tensor mean(Tensor t, int[] axes, boolean keepDims) {
        return differentiableReduce("mean", RowOp.MEAN, t, axes, keepDims);
    }

    /**
     * Maximum over {@code axes}. NaN propagates. Backward: each output's gradient goes to the first maximum
     * of its slice (in row-major order of the reduced axes), the others get zero.
     */
    public static Tensor max(Tensor t, int[] axes, boolean keepDims) {
        return differentiableReduce("max", RowOp.MAX, t, axes, keepDims);
    }

    /** Minimum over {@code axes}; as {@link #max}. */
    public static Tensor min(Tensor t, int[] axes, boolean keepDims) {
        return differentiableReduce("min", RowOp.MIN, t, axes, keepDims);
    }

    /**
     * Population variance over {@code axes}: mean((x - mean(x))^2), dividing by the count (ddof = 0), as
     * Keras {@code ops.var} and TF {@code reduce_variance}. Backward: 2 (x - mean) / count times the gradient.
     */
    public static Tensor variance(Tensor t, int[] axes, boolean keepDims) {
        return differentiableReduce("variance", RowOp.VAR, t, axes, keepDims);
    }

    /**
     * Index of the first maximum along {@code axis}, as an int32 tensor (no gradient). Accepts float and int
     * tensors; a NaN counts as the maximum.
     */
    public static Tensor argmax(Tensor t, int axis, boolean keepDims) {
        return argReduce("argmax", RowOp.MAX, t, axis, keepDims);
    }

    /** Index of the first minimum along {@code axis}; as {@link #argmax}. */
    public static Tensor argmin(Tensor t, int axis, boolean keepDims) {
        return argReduce("argmin", RowOp.MIN, t, axis, keepDims);
    }

    /** exp(x - max) / sum(exp(x - max)) along {@code axis}: finite for any finite input. */
    public static Tensor softmax(Tensor t, int axis) {
        return softmax("softmax", false, t, axis);
    }

    /** (x - max) - log(sum(exp(x - max))) along {@code axis}: finite for any finite input. */
    public static Tensor logSoftmax(Tensor t, int axis) {
        return softmax("logSoftmax", true, t, axis);
    }

    // ------------------------------------------------------------------ op bodies

    private static Tensor differentiableReduce(String op, RowOp rowOp, Tensor t, int[] axes, boolean keepDims) {
        Tensor out = reduce(op, rowOp, t, axes, keepDims);
        int[] red = Shapes.axes(op, axes, t.ndim());
        return Autograd.record(op, out, g -> new Tensor[] {reduceBackward(op, rowOp, t, red, g)}, t);
    }

    /** The input gradient of a row reduction of {@code t} over {@code red}, from the output gradient g. */
    private static Tensor reduceBackward(String op, RowOp rowOp, Tensor t, int[] red, Tensor g) {
        Check.open(op + " backward", t, g);
        RowLayout layout = RowLayout.of(t.shape(), red);
        boolean readsInput = rowOp != RowOp.SUM && rowOp != RowOp.MEAN;
        long[] middle = layout.middleBlock();
        if (!readsInput && middle != null) {
            // Broadcast g straight into t's layout, not into the row layout and then back through a transpose.
            Tensor gradIn = Tensor.empty(t.dtype(), t.device(), t.shape());
            boolean done = false;
            try (Tensor grad = dense(g)) {
                done = t.backend().reductions().reduceMiddleBackward(rowOp, grad, middle[0], layout.cols, middle[1],
                        gradIn);
            } finally {
                if (!done) gradIn.close();
            }
            if (done) return gradIn;
        }
        Tensor rows = readsInput ? layout.rowsOf(t) : null;
        Tensor grad = dense(g);
        Tensor gradRows = Tensor.empty(t.dtype(), t.device(), layout.permutedShape);
        try {
            t.backend().reductions().reduceRowsBackward(rowOp, rows, grad, layout.rows, layout.cols, gradRows);
        } finally {
            if (rows != null) rows.close();
            grad.close();
        }
        return layout.restore(gradRows);
    }

    private static Tensor argReduce(String op, RowOp rowOp, Tensor t, int axis, boolean keepDims) {
        Check.open(op, t);
        int a = Shapes.axis(op, axis, t.ndim());
        long[] shape = t.shape();
        if (shape[a] == 0) {
            throw new ShapeException(op + ": axis " + axis + " of " + t.describe() + " is empty; nothing to index");
        }
        if (shape[a] > Integer.MAX_VALUE) {
            throw new ShapeException(op + ": axis " + axis + " of " + t.describe() + " is longer than an int32 index");
        }
        RowLayout layout = RowLayout.of(shape, new int[] {a});
        Tensor out = Tensor.empty(DType.I32, t.device(), layout.outShape(keepDims));
        if (layout.rows == 0) return out;
        try (Tensor rows = layout.rowsOf(t)) {
            t.backend().reductions().argReduceRows(rowOp, rows, layout.rows, layout.cols, out);
        }
        return out;
    }

    private static Tensor softmax(String op, boolean log, Tensor t, int axis) {
        Check.open(op, t);
        Check.floating(op, t);
        int a = Shapes.axis(op, axis, t.ndim());
        RowLayout layout = RowLayout.of(t.shape(), new int[] {a});
        Tensor yRows = Tensor.empty(t.dtype(), t.device(), layout.permutedShape);
        if (t.numel() > 0) {
            try (Tensor rows = layout.rowsOf(t)) {
                t.backend().reductions().softmaxRows(log, rows, layout.rows, layout.cols, yRows);
            }
        }
        Tensor out = layout.restore(yRows);
        // The backward reads the output (saved by the closure); it must still be open then.
        return Autograd.record(op, out, g -> new Tensor[] {softmaxBackward(op, log, layout, out, g)}, t);
    }

    private static Tensor softmaxBackward(String op, boolean log, RowLayout layout, Tensor y, Tensor g) {
        Check.open(op + " backward", y, g);
        Tensor yRows = layout.rowsOf(y);
        Tensor gRows = layout.rowsOf(g);
        Tensor giRows = Tensor.empty(y.dtype(), y.device(), layout.permutedShape);
        try {
            if (y.numel() > 0) {
                y.backend().reductions().softmaxRowsBackward(log, yRows, gRows, layout.rows, layout.cols, giRows);
            }
        } finally {
            yRows.close();
            gRows.close();
        }
        return layout.restore(giRows);
    }

    // ------------------------------------------------------------------ shared machinery

    /**
     * Runs a row reduction over {@code axes}: permutes the reduced axes to the end (a copy only when they are
     * not already trailing in a contiguous tensor), reduces each row, and shapes the result. Records nothing.
     */
    static Tensor reduce(String op, RowOp rowOp, Tensor t, int[] axes, boolean keepDims) {
        Check.open(op, t);
        Check.floating(op, t);
        int[] red = Shapes.axes(op, axes, t.ndim());
        RowLayout layout = RowLayout.of(t.shape(), red);
        if (layout.cols == 0 && rowOp != RowOp.SUM) {
            throw new ShapeException(op + ": cannot reduce over an empty axis of " + t.describe());
        }
        Tensor out = Tensor.empty(t.dtype(), t.device(), layout.outShape(keepDims));
        if (layout.rows == 0) return out;
        // Reducing one block of axes with kept axes after it in a contiguous tensor (bias gradients: the leading
        // axes; a mean over time: the middle one): sum down the columns, no transpose.
        long[] middle = layout.middleBlock();
        if (layout.cols > 0 && middle != null && t.isContiguous()
                && t.backend().reductions().reduceMiddle(rowOp, t, middle[0], layout.cols, middle[1], out)) {
            return out;
        }
        try (Tensor rows = layout.rowsOf(t)) {
            t.backend().reductions().reduceRows(rowOp, rows, layout.rows, layout.cols, out);
        }
        return out;
    }

    static long[] keptShape(long[] shape, int[] reducedAxes) {
        long[] out = shape.clone();
        for (int a : reducedAxes) out[a] = 1;
        return out;
    }

    /** A contiguous tensor with t's values: a new view when t already is, else a copy. Not recorded; close it. */
    private static Tensor dense(Tensor t) {
        try (GradMode.Guard g = GradMode.disable()) {
            if (t.isContiguous()) return t.viewOf(t.offset(), t.shape(), t.strides());
            return Shapes.copy(t);
        }
    }

    /**
     * How a tensor of {@code shape} maps onto rows when {@code reduced} axes (sorted, distinct) are reduced:
     * kept axes first in their order, reduced axes last; rows = product of kept sizes, cols = of reduced ones.
     */
    private static final class RowLayout {
        final long[] shape;
        final boolean[] reduced;
        final int[] order;
        final int[] inverse;
        final long[] permutedShape;
        final long rows;
        final long cols;
        final boolean identity;

        private RowLayout(long[] shape, int[] red) {
            this.shape = shape;
            int rank = shape.length;
            reduced = new boolean[rank];
            for (int a : red) reduced[a] = true;
            order = new int[rank];
            int k = 0;
            long r = 1;
            long c = 1;
            for (int i = 0; i < rank; i++) {
                if (!reduced[i]) {
                    order[k++] = i;
                    r *= shape[i];
                }
            }
            for (int i = 0; i < rank; i++) {
                if (reduced[i]) {
                    order[k++] = i;
                    c *= shape[i];
                }
            }
            inverse = new int[rank];
            permutedShape = new long[rank];
            boolean id = true;
            for (int i = 0; i < rank; i++) {
                inverse[order[i]] = i;
                permutedShape[i] = shape[order[i]];
                id &= order[i] == i;
            }
            rows = r;
            cols = c;
            identity = id;
        }

        /**
         * When the reduced axes form one block with some kept axis after it, {@code {batches, inner}}: the sizes of
         * the kept axes before the block and after it (the tensor is then batches x cols x inner); else null.
         */
        long[] middleBlock() {
            int first = 0;
            while (first < shape.length && !reduced[first]) first++;
            int end = first;
            while (end < shape.length && reduced[end]) end++;
            if (first == shape.length || end == shape.length) return null;
            long batches = 1;
            long inner = 1;
            for (int i = 0; i < first; i++) batches *= shape[i];
            for (int i = end; i < shape.length; i++) {
                if (reduced[i]) return null;
                inner *= shape[i];
            }
            return new long[] {batches, inner};
        }

        static RowLayout of(long[] shape, int[] reducedAxes) {
            return new RowLayout(shape, reducedAxes);
        }

        long[] outShape(boolean keepDims) {
            int n = 0;
            for (int i = 0; i < shape.length; i++) if (keepDims || !reduced[i]) n++;
            long[] out = new long[n];
            int k = 0;
            for (int i = 0; i < shape.length; i++) {
                if (!reduced[i]) out[k++] = shape[i];
                else if (keepDims) out[k++] = 1;
            }
            return out;
        }

        /** t (of this layout's shape) as a contiguous rows x cols tensor: a view when possible. Close it. */
        Tensor rowsOf(Tensor t) {
            try (GradMode.Guard g = GradMode.disable()) {
                Tensor view = Shapes.permute(t, order);
                if (view.isContiguous()) return view;
                try {
                    return Shapes.copy(view);
                } finally {
                    view.close();
                }
            }
        }

        /** Turns a contiguous tensor in row layout (permutedShape) back into this layout's shape; consumes it. */
        Tensor restore(Tensor rowsTensor) {
            if (identity) return rowsTensor;
            try (GradMode.Guard g = GradMode.disable();
                 Tensor view = Shapes.permute(rowsTensor, inverse)) {
                return Shapes.copy(view);
            } finally {
                rowsTensor.close();
            }
        }
    }
}
