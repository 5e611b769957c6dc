package dev.soma.backend;

import dev.soma.ops.Shapes;
import dev.soma.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;

/**
 * 2-d views into a backend's buffers for kernels that walk a sequence step by step (the recurrent kernels of
 * every backend): none is recorded by autograd, and none copies.
 */
public final class MatrixViews implements AutoCloseable {
    private final List<Tensor> list = new ArrayList<>();

    /** A contiguous 2-d view {@code [rows, cols]} of {@code t} starting {@code offset} elements in. */
    public static Tensor view(Tensor t, long offset, long rows, long cols) {
        long[] shape = {rows, cols};
        return t.viewOf(t.offset() + offset, shape, Shapes.contiguousStrides(shape));
    }

    /** A 2-d view {@code [rows, cols]} with row stride {@code rowStride}, {@code offset} elements in. */
    public static Tensor strided(Tensor t, long offset, long rows, long cols, long rowStride) {
        return t.viewOf(t.offset() + offset, new long[] {rows, cols}, new long[] {rowStride, 1});
    }

    /** Columns {@code [first, first + count)} of a contiguous 2-d tensor. */
    public static Tensor columns(Tensor m, long first, long count) {
        return strided(m, first, m.size(0), count, m.size(1));
    }

    /** The transpose of a 2-d tensor. */
    public static Tensor transposed(Tensor m) {
        long[] s = m.shape();
        long[] st = m.strides();
        return m.viewOf(m.offset(), new long[] {s[1], s[0]}, new long[] {st[1], st[0]});
    }

    /** Keeps {@code t} to be closed with the others of this call. */
    public Tensor add(Tensor t) {
        list.add(t);
        return t;
    }

    /** {@link #view}, closed with the others of this call. */
    public Tensor of(Tensor t, long offset, long rows, long cols) {
        return add(view(t, offset, rows, cols));
    }

    /** Closes every view kept by this call. */
    @Override
    public void close() {
        for (Tensor t : list) t.close();
        list.clear();
    }
}
