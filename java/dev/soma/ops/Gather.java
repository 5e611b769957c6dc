package dev.soma.ops;

import dev.soma.autograd.Autograd;
import dev.soma.autograd.GradMode;
import dev.soma.errors.ShapeException;
import dev.soma.tensor.DType;
import dev.soma.tensor.Tensor;

import java.util.Arrays;

/**
 * Embedding lookup: rows of a {@code [vocab, features]} table picked by int32 ids of any shape, giving
 * {@code [...ids shape, features]}. Backward: a scatter-add of the output gradient into a zero table gradient
 * (repeated ids add up); ids get no gradient.
 */
public final class Gather {
    private static final String OP = "embedding";

    private Gather() {}

    public static Tensor embedding(Tensor table, Tensor ids) {
        Check.sameDevice(OP, table, ids);
        Check.floating(OP, table);
        Check.dtype(OP + " ids", ids, DType.I32);
        Check.rank(OP, table, 2);
        long vocab = table.size(0);
        long cols = table.size(1);
        Tensor idc = ids.isContiguous() ? ids : Shapes.copy(ids);
        for (int id : idc.toIntArray()) {
            if (id < 0 || id >= vocab) {
                if (idc != ids) idc.close();
                throw new ShapeException(OP + ": id " + id + " is outside [0, " + vocab + ") of table " + table.describe());
            }
        }
        long n = ids.numel();
        long[] outShape = Arrays.copyOf(ids.shape(), ids.ndim() + 1);
        outShape[ids.ndim()] = cols;
        Shapes.checkShape(OP, outShape);
        Tensor tc = table;
        if (!table.isContiguous()) {
            try (GradMode.Guard off = GradMode.disable()) {
                tc = Shapes.copy(table);
            }
        }
        Tensor out = Tensor.empty(table.dtype(), table.device(), outShape);
        if (n > 0 && cols > 0) table.backend().gather().gatherRows(tc, idc, n, cols, out);
        if (tc != table) tc.close();
        if (!Autograd.needsGrad(table)) {
            if (idc != ids) idc.close();
            return out;
        }
        long[] tableShape = table.shape();
        return Autograd.record(OP, out, g -> {
            Tensor gc = g.isContiguous() ? g : Shapes.copy(g);
            Tensor gt = Tensor.empty(table.dtype(), table.device(), tableShape);
            table.backend().gather().scatterAddRows(idc, gc, n, cols, gt);
            if (gc != g) gc.close();
            return new Tensor[] {gt};
        }, table);
    }
}
