package dev.soma.ops;

import dev.soma.autograd.Autograd;
import dev.soma.errors.ShapeException;
import dev.soma.tensor.DType;
import dev.soma.tensor.Device;
import dev.soma.tensor.Tensor;

import java.util.Arrays;
import java.util.stream.Collectors;

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

    /**
     * Storage elements from a view's first element to its last, inclusive (0 for an empty view): what a copy of the
     * memory it covers must hold. -1 when a stride is negative, since such a view also reaches before its first element.
     */
    public static long span(long[] shape, long[] strides) {
        if (shape == null || strides == null || shape.length != strides.length) {
            throw new ShapeException("span: shape " + Arrays.toString(shape) + " and strides " + Arrays.toString(strides)
                    + " must be given and of the same rank");
        }
        long last = 0;
        for (int i = 0; i < shape.length; i++) {
            if (shape[i] < 0) throw new ShapeException("span: negative size in shape " + Arrays.toString(shape));
            if (shape[i] == 0) return 0;
        }
        try {
            for (int i = 0; i < shape.length; i++) {
                if (strides[i] < 0) return -1;
                last = Math.addExact(last, Math.multiplyExact(shape[i] - 1, strides[i]));
            }
            return Math.addExact(last, 1);
        } catch (ArithmeticException e) {
            throw new ShapeException("span: shape " + Arrays.toString(shape) + " with strides " + Arrays.toString(strides)
                    + " reaches beyond 2^63 elements");
        }
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
        if (rank < 0 || rank > MAX_DIMS) {
            throw new ShapeException(op + ": rank " + rank + " is outside 0.." + MAX_DIMS);
        }
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

    /**
     * Elements {@code start, start + step, ...} below {@code end} along {@code dim}, Python style: negative
     * start/end count from the end, both are clamped to [0, size], step >= 1. A view.
     */
    public static Tensor slice(Tensor t, int dim, long start, long end, long step) {
        Check.open("slice", t);
        int d = axis("slice", dim, t.ndim());
        if (step <= 0) {
            throw new ShapeException("slice: step " + step + " must be >= 1 (tensor " + t.describe() + ", dimension " + d + ")");
        }
        long size = t.size(d);
        long from = clampIndex(start, size);
        long to = clampIndex(end, size);
        long length = to > from ? (to - from - 1) / step + 1 : 0;
        long[] shape = t.shape();
        long[] strides = t.strides();
        long offset = t.offset() + (length == 0 ? 0 : from * strides[d]);
        shape[d] = length;
        strides[d] *= step;
        Tensor out = t.viewOf(offset, shape, strides);
        long[] original = t.shape();
        long first = from;
        return Autograd.record("slice", out, g -> new Tensor[] {scatterIntoZeros(g, original, d, first, step, false)}, t);
    }

    private static long clampIndex(long i, long size) {
        long j = i < 0 ? i + size : i;
        return Math.max(0, Math.min(size, j));
    }

    /** The sub-tensor at {@code index} along {@code dim}, which is dropped (negative counts from the end). A view. */
    public static Tensor select(Tensor t, int dim, long index) {
        Check.open("select", t);
        int d = axis("select", dim, t.ndim());
        long size = t.size(d);
        long i = index < 0 ? index + size : index;
        if (i < 0 || i >= size) {
            throw new ShapeException("select: index " + index + " is out of range for dimension " + d + " of size "
                    + size + " (tensor " + t.describe() + "; expected " + (-size) + " to " + (size - 1) + ")");
        }
        long[] shape = t.shape();
        long[] strides = t.strides();
        Tensor out = t.viewOf(t.offset() + i * strides[d], drop(shape, d), drop(strides, d));
        long[] original = t.shape();
        return Autograd.record("select", out, g -> new Tensor[] {scatterIntoZeros(g, original, d, i, 1, true)}, t);
    }

    /**
     * Backward of slice and select: zeros of {@code shape} with {@code g} copied into the region the forward
     * view read (starting at {@code start} along {@code dim}, every {@code step}-th; {@code dropped} for select).
     */
    private static Tensor scatterIntoZeros(Tensor g, long[] shape, int dim, long start, long step, boolean dropped) {
        Tensor z = Tensor.zeros(g.dtype(), g.device(), shape);
        long[] strides = contiguousStrides(shape);
        long offset = g.numel() == 0 ? 0 : start * strides[dim];
        long[] viewStrides = strides.clone();
        viewStrides[dim] *= step;
        if (dropped) viewStrides = drop(viewStrides, dim);
        try (Tensor region = z.viewOf(z.offset() + offset, g.shape(), viewStrides)) {
            z.backend().memory().copy(g, region);
        }
        return z;
    }

    private static long[] drop(long[] a, int i) {
        long[] out = new long[a.length - 1];
        System.arraycopy(a, 0, out, 0, i);
        System.arraycopy(a, i + 1, out, i, a.length - i - 1);
        return out;
    }

    private static long[] insert(long[] a, int i, long v) {
        long[] out = new long[a.length + 1];
        System.arraycopy(a, 0, out, 0, i);
        out[i] = v;
        System.arraycopy(a, i, out, i + 1, a.length - i);
        return out;
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

    /** Removes dimension {@code dim}, which must have size 1. A view. */
    public static Tensor squeeze(Tensor t, int dim) {
        Check.open("squeeze", t);
        int d = axis("squeeze", dim, t.ndim());
        if (t.size(d) != 1) {
            throw new ShapeException("squeeze: dimension " + d + " of " + t.describe() + " has size " + t.size(d)
                    + ", expected 1");
        }
        Tensor out = t.viewOf(t.offset(), drop(t.shape(), d), drop(t.strides(), d));
        return Autograd.record("squeeze", out, g -> new Tensor[] {unsqueeze(g, d)}, t);
    }

    /** Inserts a dimension of size 1 at {@code dim}, in [-(rank + 1), rank] (negative counts from the end). A view. */
    public static Tensor unsqueeze(Tensor t, int dim) {
        Check.open("unsqueeze", t);
        int rank = t.ndim();
        int d = dim < 0 ? dim + rank + 1 : dim;
        if (d < 0 || d > rank) {
            throw new ShapeException("unsqueeze: dimension " + dim + " is out of range for " + t.describe()
                    + " (expected " + (-rank - 1) + " to " + rank + ")");
        }
        if (rank + 1 > MAX_DIMS) {
            throw new ShapeException("unsqueeze: " + t.describe() + " already has the maximum rank " + MAX_DIMS);
        }
        long[] shape = t.shape();
        long[] strides = t.strides();
        // The stride a contiguous tensor would have there, so contiguous inputs stay contiguous.
        long stride = d < rank ? strides[d] * Math.max(shape[d], 1) : 1;
        Tensor out = t.viewOf(t.offset(), insert(shape, d, 1), insert(strides, d, stride));
        return Autograd.record("unsqueeze", out, g -> new Tensor[] {squeeze(g, d)}, t);
    }

    /** Joins tensors of one dtype, device and rank along {@code dim}; other sizes must agree. A copy. */
    public static Tensor concat(int dim, Tensor... tensors) {
        Join j = Join.check("concat", tensors, false);
        int d = axis("concat", dim, j.rank);
        long total = 0;
        long[] first = tensors[0].shape();
        for (Tensor t : tensors) {
            long[] s = t.shape();
            for (int k = 0; k < j.rank; k++) {
                if (k != d && s[k] != first[k]) {
                    throw new ShapeException("concat: sizes differ in dimension " + k + " (" + Arrays.toString(first)
                            + " vs " + Arrays.toString(s) + "); only dimension " + d + " may differ. Shapes: " + j.shapes);
                }
            }
            try {
                total = Math.addExact(total, s[d]);
            } catch (ArithmeticException e) {
                throw new ShapeException("concat: the joined size along dimension " + d + " overflows (shapes " + j.shapes + ")");
            }
        }
        long[] outShape = first.clone();
        outShape[d] = total;
        Tensor out = Tensor.empty(j.dtype, j.device, checkShape("concat", outShape));
        long[] starts = new long[tensors.length];
        long at = 0;
        for (int i = 0; i < tensors.length; i++) {
            starts[i] = at;
            copyInto(tensors[i], out, d, at, false);
            at += tensors[i].size(d);
        }
        long[][] shapes = Arrays.stream(tensors).map(Tensor::shape).toArray(long[][]::new);
        return Autograd.record("concat", out, g -> {
            Tensor[] grads = new Tensor[shapes.length];
            for (int i = 0; i < shapes.length; i++) grads[i] = copyOut(g, shapes[i], d, starts[i], false);
            return grads;
        }, tensors);
    }

    /** Joins tensors of one shape, dtype and device along a new dimension {@code dim} in [-(rank + 1), rank]. */
    public static Tensor stack(int dim, Tensor... tensors) {
        Join j = Join.check("stack", tensors, true);
        int d = dim < 0 ? dim + j.rank + 1 : dim;
        if (d < 0 || d > j.rank) {
            throw new ShapeException("stack: dimension " + dim + " is out of range for tensors of rank " + j.rank
                    + " (expected " + (-j.rank - 1) + " to " + j.rank + ")");
        }
        long[] shape = tensors[0].shape();
        Tensor out = Tensor.empty(j.dtype, j.device, checkShape("stack", insert(shape, d, tensors.length)));
        for (int i = 0; i < tensors.length; i++) copyInto(tensors[i], out, d, i, true);
        int n = tensors.length;
        return Autograd.record("stack", out, g -> {
            Tensor[] grads = new Tensor[n];
            for (int i = 0; i < n; i++) grads[i] = copyOut(g, shape, d, i, true);
            return grads;
        }, tensors);
    }

    /** Copies {@code src} into {@code out} at {@code start} along {@code dim} ({@code dropped}: a stack slot). */
    private static void copyInto(Tensor src, Tensor out, int dim, long start, boolean dropped) {
        if (src.numel() == 0) return;
        long[] strides = out.strides();
        long offset = out.offset() + start * strides[dim];
        try (Tensor region = out.viewOf(offset, src.shape(), dropped ? drop(strides, dim) : strides)) {
            out.backend().memory().copy(src, region);
        }
    }

    /** A fresh contiguous copy of the part of {@code g} that {@link #copyInto} filled from a tensor of {@code shape}. */
    private static Tensor copyOut(Tensor g, long[] shape, int dim, long start, boolean dropped) {
        Tensor piece = Tensor.empty(g.dtype(), g.device(), shape);
        if (piece.numel() == 0) return piece;
        long[] strides = g.strides();
        long offset = g.offset() + start * strides[dim];
        try (Tensor region = g.viewOf(offset, shape, dropped ? drop(strides, dim) : strides)) {
            g.backend().memory().copy(region, piece);
        }
        return piece;
    }

    /** The checks concat and stack share: at least one tensor, all open, one device, dtype and rank. */
    private record Join(int rank, DType dtype, Device device, String shapes) {
        static Join check(String op, Tensor[] tensors, boolean sameShape) {
            if (tensors == null || tensors.length == 0) {
                throw new ShapeException(op + ": no tensors given, expected at least one");
            }
            Device device = Check.sameDevice(op, tensors);
            DType dtype = Check.sameDType(op, tensors);
            String shapes = Arrays.stream(tensors).map(t -> Arrays.toString(t.shape())).collect(Collectors.joining(", "));
            int rank = tensors[0].ndim();
            if (!sameShape && rank == 0) {
                throw new ShapeException(op + ": zero-dimensional tensors cannot be joined along a dimension "
                        + "(shapes " + shapes + "); use stack");
            }
            for (Tensor t : tensors) {
                if (t.ndim() != rank) {
                    throw new ShapeException(op + ": ranks differ (shapes " + shapes + "); expected all of rank " + rank);
                }
                if (sameShape && !Arrays.equals(t.shape(), tensors[0].shape())) {
                    throw new ShapeException(op + ": shapes differ (" + shapes + "); expected all equal");
                }
            }
            if (sameShape && rank + 1 > MAX_DIMS) {
                throw new ShapeException(op + ": tensors of rank " + rank + " would give rank " + (rank + 1)
                        + ", above the maximum " + MAX_DIMS);
            }
            return new Join(rank, dtype, device, shapes);
        }
    }
}
