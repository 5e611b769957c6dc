package dev.soma.ops;

import dev.soma.autograd.Autograd;
import dev.soma.errors.ShapeException;
import dev.soma.tensor.DType;
import dev.soma.tensor.Tensor;

import java.util.Arrays;

/**
 * Shape arithmetic and the ops that only move or reinterpret data: copy, cast, reshape, permute, transpose,
 * slice, select, expand, squeeze, unsqueeze, concat, stack. Views share storage with their source.
 */
public final class Shapes {
    /** Highest rank the strided kernels accept (SOMA_MAX_DIMS in soma.h). */
    public static final int MAX_DIMS = 8;

    private Shapes() {}

    // ------------------------------------------------------------------ shape arithmetic

    /** Validates a shape (non-negative sizes, rank within MAX_DIMS, element count within a long). */
    public static long[] checkShape(String op, long[] shape) {
        if (shape.length > MAX_DIMS) {
            throw new ShapeException(op + ": rank " + shape.length + " exceeds the maximum of " + MAX_DIMS);
        }
        long n = 1;
        for (long s : shape) {
            if (s < 0) throw new ShapeException(op + ": negative size in shape " + Arrays.toString(shape));
            try {
                n = Math.multiplyExact(n, s);
                Math.multiplyExact(n, 8L);
            } catch (ArithmeticException e) {
                throw new ShapeException(op + ": shape " + Arrays.toString(shape) + " has too many elements (overflow)");
            }
        }
        return shape.clone();
    }

    public static long numel(long[] shape) {
        long n = 1;
        for (long s : shape) n *= s;
        return n;
    }

    public static long[] contiguousStrides(long[] shape) {
        long[] strides = new long[shape.length];
        long s = 1;
        for (int i = shape.length - 1; i >= 0; i--) {
            strides[i] = s;
            s *= Math.max(shape[i], 1);
        }
        return strides;
    }

    /** Normalises an axis (negative counts from the end) or throws naming the op. */
    public static int axis(String op, int axis, int rank) {
        int a = axis < 0 ? axis + rank : axis;
        if (a < 0 || a >= rank) {
            throw new ShapeException(op + ": axis " + axis + " is out of range for rank " + rank
                    + " (expected " + (-rank) + " to " + (rank - 1) + ")");
        }
        return a;
    }

    /** Normalised, sorted, distinct axes; null or empty means all axes. */
    public static int[] axes(String op, int[] axes, int rank) {
        if (axes == null || axes.length == 0) {
            int[] all = new int[rank];
            for (int i = 0; i < rank; i++) all[i] = i;
            return all;
        }
        int[] out = new int[axes.length];
        for (int i = 0; i < axes.length; i++) out[i] = axis(op, axes[i], rank);
        Arrays.sort(out);
        for (int i = 1; i < out.length; i++) {
            if (out[i] == out[i - 1]) throw new ShapeException(op + ": axis " + out[i] + " given twice in " + Arrays.toString(axes));
        }
        return out;
    }

    /** NumPy broadcasting of two shapes, or a ShapeException naming the op and both tensors. */
    public static long[] broadcast(String op, long[] a, long[] b) {
        int n = Math.max(a.length, b.length);
        long[] out = new long[n];
        for (int i = 0; i < n; i++) {
            long x = i < n - a.length ? 1 : a[i - (n - a.length)];
            long y = i < n - b.length ? 1 : b[i - (n - b.length)];
            if (x != y && x != 1 && y != 1) {
                throw new ShapeException(op + ": shapes " + Arrays.toString(a) + " and " + Arrays.toString(b)
                        + " cannot be broadcast (dimension " + i + ": " + x + " vs " + y + ")");
            }
            out[i] = x == 1 ? y : x;
        }
        return out;
    }

    /** Strides that read {@code t} as if it had the (broadcast) shape {@code target}: 0 where it repeats. */
    public static long[] broadcastStrides(Tensor t, long[] target) {
        long[] shape = t.shape();
        long[] strides = t.strides();
        long[] out = new long[target.length];
        int lead = target.length - shape.length;
        for (int i = 0; i < target.length; i++) {
            if (i < lead) out[i] = 0;
            else out[i] = shape[i - lead] == 1 && target[i] != 1 ? 0 : strides[i - lead];
        }
        return out;
    }

    // ------------------------------------------------------------------ copies and casts

    /** A contiguous copy with the same values. */
    public static Tensor copy(Tensor t) {
        Check.open("copy", t);
        Tensor out = Tensor.empty(t.dtype(), t.device(), t.shape());
        t.backend().memory().copy(t, out);
        return Autograd.record("copy", out, g -> new Tensor[] {g}, t);
    }

    /** Converts to {@code target}; gradients flow between floating types. */
    public static Tensor cast(Tensor t, DType target) {
        Check.open("cast", t);
        if (t.dtype() == target) return copy(t);
        Tensor src = t.contiguous();
        Tensor out = Tensor.empty(target, t.device(), t.shape());
        t.backend().memory().cast(src, out);
        if (src != t) src.close();
        if (!target.isFloating()) return out;
        DType from = t.dtype();
        return Autograd.record("cast", out, g -> new Tensor[] {cast(g, from)}, t);
    }

    // ------------------------------------------------------------------ views

    /** Same elements in a new shape; one size may be -1 (inferred). A view when {@code t} is contiguous. */
    public static Tensor reshape(Tensor t, long... newShape) {
        Check.open("reshape", t);
        long[] shape = inferShape("reshape", t, newShape);
        Tensor src = t.isContiguous() ? t : copy(t);
        Tensor out = src.viewOf(src.offset(), shape, contiguousStrides(shape));
        long[] original = t.shape();
        return Autograd.record("reshape", out, g -> new Tensor[] {reshape(g, original)}, src);
    }

    private static long[] inferShape(String op, Tensor t, long[] requested) {
        long[] shape = requested.clone();
        int unknown = -1;
        long known = 1;
        for (int i = 0; i < shape.length; i++) {
            if (shape[i] == -1 && unknown < 0) {
                unknown = i;
            } else if (shape[i] < 0) {
                throw new ShapeException(op + ": invalid size " + shape[i] + " in " + Arrays.toString(requested)
                        + " (only one -1 is allowed)");
            } else {
                known = multiply(op, known, shape[i], requested);
            }
        }
        long n = t.numel();
        if (unknown >= 0) {
            if (known == 0 || n % known != 0) {
                throw new ShapeException(op + ": cannot reshape " + t.describe() + " into " + Arrays.toString(requested));
            }
            shape[unknown] = n / known;
        } else if (known != n) {
            throw new ShapeException(op + ": cannot reshape " + t.describe() + " (" + n + " elements) into "
                    + Arrays.toString(requested) + " (" + known + " elements)");
        }
        return checkShape(op, shape);
    }

    private static long multiply(String op, long a, long b, long[] shape) {
        try {
            return Math.multiplyExact(a, b);
        } catch (ArithmeticException e) {
            throw new ShapeException(op + ": shape " + Arrays.toString(shape) + " overflows");
        }
    }

    /** Reorders dimensions: output dimension i is input dimension {@code axes[i]}. A view. */
    public static Tensor permute(Tensor t, int... axes) {
        Check.open("permute", t);
        int rank = t.ndim();
        if (axes.length != rank) {
            throw new ShapeException("permute: " + axes.length + " axes given for " + t.describe() + ", expected " + rank);
        }
        long[] shape = t.shape();
        long[] strides = t.strides();
        long[] ns = new long[rank];
        long[] nst = new long[rank];
        int[] inverse = new int[rank];
        boolean[] seen = new boolean[rank];
        for (int i = 0; i < rank; i++) {
            int a = axis("permute", axes[i], rank);
            if (seen[a]) throw new ShapeException("permute: axis " + a + " repeated in " + Arrays.toString(axes));
            seen[a] = true;
            ns[i] = shape[a];
            nst[i] = strides[a];
            inverse[a] = i;
        }
        Tensor out = t.viewOf(t.offset(), ns, nst);
        return Autograd.record("permute", out, g -> new Tensor[] {permute(g, inverse)}, t);
    }

    /** Swaps two dimensions. A view. */
    public static Tensor transpose(Tensor t, int a, int b) {
        Check.open("transpose", t);
        int rank = t.ndim();
        int x = axis("transpose", a, rank);
        int y = axis("transpose", b, rank);
        int[] axes = new int[rank];
        for (int i = 0; i < rank; i++) axes[i] = i;
        axes[x] = y;
        axes[y] = x;
        return permute(t, axes);
    }

    public static Tensor slice(Tensor t, int dim, long start, long end, long step) {
        throw new UnsupportedOperationException("slice: not implemented yet");
    }

    public static Tensor select(Tensor t, int dim, long index) {
        throw new UnsupportedOperationException("select: not implemented yet");
    }

    /** Broadcasts size-1 (or missing leading) dimensions to {@code shape} without copying: a view. */
    public static Tensor expand(Tensor t, long... shape) {
        Check.open("expand", t);
        long[] target = checkShape("expand", shape);
        long[] b = broadcast("expand", t.shape(), target);
        if (!Arrays.equals(b, target)) {
            throw new ShapeException("expand: " + t.describe() + " cannot be expanded to " + Arrays.toString(target));
        }
        Tensor out = t.viewOf(t.offset(), target, broadcastStrides(t, target));
        long[] original = t.shape();
        return Autograd.record("expand", out, g -> new Tensor[] {Reductions.sumToShape(g, original)}, t);
    }

    public static Tensor squeeze(Tensor t, int dim) {
        throw new UnsupportedOperationException("squeeze: not implemented yet");
    }

    public static Tensor unsqueeze(Tensor t, int dim) {
        throw new UnsupportedOperationException("unsqueeze: not implemented yet");
    }

    public static Tensor concat(int dim, Tensor... tensors) {
        throw new UnsupportedOperationException("concat: not implemented yet");
    }

    public static Tensor stack(int dim, Tensor... tensors) {
        throw new UnsupportedOperationException("stack: not implemented yet");
    }
}
