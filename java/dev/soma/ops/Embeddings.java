package dev.soma.ops;

import dev.soma.autograd.Autograd;
import dev.soma.autograd.GradMode;
import dev.soma.errors.ShapeException;
import dev.soma.tensor.DType;
import dev.soma.tensor.Tensor;

import java.util.Arrays;

/**
 * Embedding look-up: {@code out[..., :] = table[ids[...], :]} for int32 ids of any shape and a table
 * {@code [vocab, dim]}. Backward: the table's gradient is a deterministic scatter-add of the output gradient
 * rows (ids never get a gradient).
 */
public final class Embeddings {
    private Embeddings() {}

    public static Tensor embedding(Tensor ids, Tensor table) {
        String op = "embedding";
        Check.sameDevice(op, ids, table);
        Check.dtype(op, ids, DType.I32);
        Check.floating(op, table);
        if (table.ndim() != 2) {
            throw new ShapeException(op + ": table " + table.describe() + " must be [vocab, dim]");
        }
        long vocab = table.size(0);
        long dim = table.size(1);
        if (ids.ndim() + 1 > Shapes.MAX_DIMS) {
            throw new ShapeException(op + ": ids " + ids.describe() + " have rank " + ids.ndim()
                    + "; the output would exceed rank " + Shapes.MAX_DIMS);
        }
        Tensor idc = dense(ids);
        try {
            checkRange(op, idc, vocab, table);
            long[] outShape = Arrays.copyOf(ids.shape(), ids.ndim() + 1);
            outShape[ids.ndim()] = dim;
            Tensor out = Tensor.empty(table.dtype(), table.device(), outShape);
            Tensor tc = dense(table);
            try {
                if (out.numel() > 0) table.backend().recurrent().embeddingForward(idc, tc, out);
            } finally {
                tc.close();
            }
            return Autograd.record(op, out, g -> new Tensor[] {null, backward(op, ids, g, vocab, dim)}, ids, table);
        } finally {
            idc.close();
        }
    }

    private static Tensor backward(String op, Tensor ids, Tensor g, long vocab, long dim) {
        Check.open(op + " backward", ids, g);
        Tensor grad = Tensor.empty(g.dtype(), g.device(), vocab, dim);
        try (Tensor idc = dense(ids); Tensor gc = dense(g)) {
            g.backend().recurrent().embeddingBackward(idc, gc, grad);
        }
        return grad;
    }

    /** Every id must lie in [0, vocab): an id outside would read or write outside the table. */
    private static void checkRange(String op, Tensor ids, long vocab, Tensor table) {
        int[] v = ids.toIntArray();
        for (int i = 0; i < v.length; i++) {
            if (v[i] < 0 || v[i] >= vocab) {
                throw new ShapeException(op + ": id " + v[i] + " at flat index " + i + " of " + ids.describe()
                        + " is out of range for table " + table.describe() + " (expected 0 to " + (vocab - 1) + ")");
            }
        }
    }

    /** A contiguous tensor with t's values: a new view when t already is, else a copy. Not recorded; close it. */
    static Tensor dense(Tensor t) {
        try (GradMode.Guard g = GradMode.disable()) {
            if (t.isContiguous()) return t.viewOf(t.offset(), t.shape(), t.strides());
            return Shapes.copy(t);
        }
    }
}
