package dev.soma.ops;

import dev.soma.autograd.Autograd;
import dev.soma.autograd.GradMode;
import dev.soma.backend.Bf16Copy;
import dev.soma.backend.ElementwiseKernels;
import dev.soma.errors.ShapeException;
import dev.soma.tensor.DType;
import dev.soma.tensor.Tensor;

import java.util.Arrays;

/**
 * Matrix products with NumPy's {@code matmul} semantics: 2-d @ 2-d; batched {@code [..., M, K] @ [..., K, N]}
 * with broadcast batch dimensions; a 1-d left operand is a row vector and a 1-d right operand a column
 * vector, their added dimension dropped from the result. Operands may be strided views (transposes run
 * without a copy on the CPU).
 *
 * <p>Backward: {@code dA = g @ B^T}, {@code dB = A^T @ g}, both products on transposed views, summed over the
 * batch dimensions an operand was broadcast along.
 */
public final class Linalg {
    private static final String OP = "matmul";

    private Linalg() {}

    public static Tensor matmul(Tensor a, Tensor b) {
        return matmul(a, b, null, null);
    }

    /**
     * {@code a @ b + bias}, a dense layer's affine map: {@code b} a matrix {@code [K, N]}, {@code bias} a vector
     * {@code [N]} added to every row of the product. One kernel where the backend has it (oneDNN's matmul with
     * bias on the CPU, f32, also in bf16 scopes); elsewhere the product and then {@link BiasActivation}'s add.
     * Backward: matmul's for a and b, and {@code dBias} = g summed over every axis but the last.
     */
    public static Tensor matmulBias(Tensor a, Tensor b, Tensor bias) {
        Check.sameDevice(OP_BIAS, a, b);
        Check.sameDevice(OP_BIAS, a, bias);
        DType dtype = Check.sameDType(OP_BIAS, a, b);
        Check.sameDType(OP_BIAS, a, bias);
        if (b.ndim() != 2 || bias.ndim() != 1 || bias.size(0) != b.size(1)) {
            throw new ShapeException(OP_BIAS + ": expected weights [K, N] and a bias [N], got " + b.describe() + " and "
                    + bias.describe() + " (input " + a.describe() + ", " + dtype + " on " + a.device() + ")");
        }
        if (a.ndim() < 2) {
            throw new ShapeException(OP_BIAS + ": expected an input [..., M, K] of rank 2 or more, got "
                    + a.describe());
        }
        return matmul(a, b, bias, null, null);
    }

    private static final String OP_BIAS = "matmulBias";

    /**
     * {@link #matmul(Tensor, Tensor)} that reads bf16 copies of a and b made earlier where given (the backward's
     * products, which run unrecorded, pass the copies their forward kept).
     */
    private static Tensor matmul(Tensor a, Tensor b, Bf16Copy aGiven, Bf16Copy bGiven) {
        return matmul(a, b, null, aGiven, bGiven);
    }

    /** The product, plus a bias [N] on every row when {@code bias} is not null (validated by matmulBias). */
    private static Tensor matmul(Tensor a, Tensor b, Tensor bias, Bf16Copy aGiven, Bf16Copy bGiven) {
        Check.sameDevice(OP, a, b);
        DType dtype = Check.sameDType(OP, a, b);
        Check.floating(OP, a);
        if (a.ndim() == 0 || b.ndim() == 0) {
            throw new ShapeException(OP + ": operands must have rank 1 or more, got " + a.describe() + " and "
                    + b.describe() + "; multiply by a scalar with mul instead");
        }
        long[] aShape = a.shape();
        long[] bShape = b.shape();
        long[] aFull = a.ndim() == 1 ? new long[] {1, aShape[0]} : aShape;
        long[] bFull = b.ndim() == 1 ? new long[] {bShape[0], 1} : bShape;
        long k = aFull[aFull.length - 1];
        long kb = bFull[bFull.length - 2];
        if (k != kb) {
            throw new ShapeException(OP + ": inner dimensions differ: " + a.describe() + " has K = " + k + " but "
                    + b.describe() + " has K = " + kb + "; expected a[..., M, K] @ b[..., K, N]");
        }
        long[] batch;
        try {
            batch = Shapes.broadcast(OP, Arrays.copyOf(aFull, aFull.length - 2), Arrays.copyOf(bFull, bFull.length - 2));
        } catch (ShapeException e) {
            throw new ShapeException(OP + ": batch dimensions of " + a.describe() + " and " + b.describe()
                    + " cannot be broadcast (" + e.getMessage() + ")");
        }
        long m = aFull[aFull.length - 2];
        long n = bFull[bFull.length - 1];
        long[] outFull = Arrays.copyOf(batch, batch.length + 2);
        outFull[batch.length] = m;
        outFull[batch.length + 1] = n;
        long[] outShape = dropVectorDims(outFull, a.ndim() == 1, b.ndim() == 1);
        Shapes.checkShape(OP, outFull);

        Tensor out = Tensor.empty(dtype, a.device(), outShape);
        Tensor aView = a.ndim() == 1 ? a.viewOf(a.offset(), aFull, new long[] {0, a.strides()[0]}) : a;
        Tensor bView = b.ndim() == 1 ? b.viewOf(b.offset(), bFull, new long[] {b.strides()[0], 0}) : b;
        Tensor outView = outShape.length != outFull.length
                ? out.viewOf(out.offset(), outFull, Shapes.contiguousStrides(outFull)) : out;
        // bf16 mixed precision: the backward reads a again (dB = a^T g) and b (dA = g b^T); rounding them once here
        // and keeping the copies spares the backward products that work (null where products are not bf16).
        boolean recording = Autograd.needsGrad(a, b);
        // (Copies of a and b themselves, not of this call's temporary views: the backward makes views of its own.)
        Bf16Copy a16 = recording ? (b.requiresGrad() ? a.backend().memory().keepBf16(a) : null) : aGiven;
        Bf16Copy b16 = recording ? (a.requiresGrad() ? b.backend().memory().keepBf16(b) : null) : bGiven;
        try {
            if (bias == null) {
                a.backend().linalg().matmul(aView, bView, outView, a16, b16);
            } else {
                addBias(aView, bView, bias, outView, a16, b16);
            }
        } catch (RuntimeException e) {
            if (recording && a16 != null) a16.close();
            if (recording && b16 != null) b16.close();
            throw e;
        } finally {
            if (aView != a) aView.close();
            if (bView != b) bView.close();
            if (outView != out) outView.close();
        }
        if (bias == null) {
            return Autograd.record(OP, out, g -> backward(g, a, b, aFull, bFull, outFull, a16, b16), a, b);
        }
        long[] biasShape = bias.shape();
        return Autograd.record(OP_BIAS, out, g -> {
            Tensor dBias = bias.requiresGrad() ? Reductions.sumToShape(g, biasShape) : null;
            Tensor[] dab = backward(g, a, b, aFull, bFull, outFull, a16, b16);
            return new Tensor[] {dab[0], dab[1], dBias};
        }, a, b, bias);
    }

    /** out = a @ b + bias through the backend's fused kernel, or the product and then the add. */
    private static void addBias(Tensor a, Tensor b, Tensor bias, Tensor out, Bf16Copy a16, Bf16Copy b16) {
        // The kernels read the bias as a dense vector: a strided view is copied (unrecorded) first.
        Tensor dense;
        try (GradMode.Guard g = GradMode.disable()) {
            dense = bias.isContiguous() ? bias : Shapes.copy(bias);
        }
        try {
            if (a.backend().linalg().matmulBias(a, b, dense, out, a16, b16)) return;
            try (Tensor product = Tensor.empty(out.dtype(), out.device(), out.shape())) {
                a.backend().linalg().matmul(a, b, product, a16, b16);
                a.backend().elementwise().biasActivation(ElementwiseKernels.BiasActivation.LINEAR, product, dense, out,
                        0);
            }
        } finally {
            if (dense != bias) dense.close();
        }
    }

    private static long[] dropVectorDims(long[] outFull, boolean aVector, boolean bVector) {
        int r = outFull.length;
        if (aVector && bVector) return Arrays.copyOf(outFull, r - 2);
        if (aVector) {
            long[] s = Arrays.copyOf(outFull, r - 1);
            s[r - 2] = outFull[r - 1];
            return s;
        }
        if (bVector) return Arrays.copyOf(outFull, r - 1);
        return outFull;
    }

    // ------------------------------------------------------------------ backward

    private static Tensor[] backward(Tensor g, Tensor a, Tensor b, long[] aFull, long[] bFull, long[] outFull,
                                     Bf16Copy a16, Bf16Copy b16) {
        Tensor gF = Arrays.equals(g.shape(), outFull) ? g : g.reshape(outFull);
        Tensor aF = Arrays.equals(a.shape(), aFull) ? a : a.reshape(aFull);
        Tensor bF = Arrays.equals(b.shape(), bFull) ? b : b.reshape(bFull);
        // g feeds both products: round it once when both run.
        Bf16Copy g16 = a.requiresGrad() && b.requiresGrad() ? g.backend().memory().keepBf16(gF) : null;
        try {
            Tensor da = a.requiresGrad() ? gradA(gF, bF, aFull, a.shape(), g16, b16) : null;
            Tensor db = b.requiresGrad() ? gradB(gF, aF, bFull, b.shape(), g16, a16) : null;
            return new Tensor[] {da, db};
        } finally {
            if (g16 != null) g16.close();
            // A graph is walked once; a second walk would round afresh (closed copies are ignored).
            if (a16 != null) a16.close();
            if (b16 != null) b16.close();
            if (gF != g) gF.close();
            if (aF != a) aF.close();
            if (bF != b) bF.close();
        }
    }

    /** dA = g @ B^T, summed down to a's (possibly broadcast) shape. */
    private static Tensor gradA(Tensor g, Tensor b, long[] aFull, long[] aShape, Bf16Copy g16, Bf16Copy b16) {
        Tensor bT = b.transpose(-1, -2);
        try {
            return reduceTo(matmul(g, bT, g16, b16), aFull, aShape);
        } finally {
            bT.close();
        }
    }

    /**
     * dB = A^T @ g, summed down to b's shape. When b is a plain matrix under a batched a, the batch sum is folded
     * into one product over all rows, {@code A_rows^T @ g_rows}, when both merge into 2-d views.
     */
    private static Tensor gradB(Tensor g, Tensor a, long[] bFull, long[] bShape, Bf16Copy g16, Bf16Copy a16) {
        if (bFull.length == 2 && a.ndim() > 2 && Arrays.equals(Arrays.copyOf(a.shape(), a.ndim() - 2),
                Arrays.copyOf(g.shape(), g.ndim() - 2))) {
            Tensor aRows = rowsView(a);
            Tensor gRows = aRows == null ? null : rowsView(g);
            if (gRows != null) {
                Tensor aT = aRows.transpose(0, 1);
                try {
                    return reduceTo(matmul(aT, gRows, a16, g16), bFull, bShape);
                } finally {
                    aT.close();
                    aRows.close();
                    gRows.close();
                }
            }
            if (aRows != null) aRows.close();
        }
        Tensor aT = a.transpose(-1, -2);
        try {
            return reduceTo(matmul(aT, g, a16, g16), bFull, bShape);
        } finally {
            aT.close();
        }
    }

    /** Sums {@code full} down to {@code fullShape} (undoing batch broadcasting), then reshapes to {@code shape}. */
    private static Tensor reduceTo(Tensor full, long[] fullShape, long[] shape) {
        Tensor summed = Reductions.sumToShape(full, fullShape);
        Tensor out = Arrays.equals(summed.shape(), shape) ? summed : summed.reshape(shape);
        if (summed != out && summed != full) summed.close();
        if (full != out) full.close();
        return out;
    }

    /**
     * A 2-d view {@code [batch... * M, X]} of a {@code [batch..., M, X]} tensor whose batch and row dimensions lie
     * evenly in memory, or null when they do not. Not recorded (backward runs with recording off).
     */
    static Tensor rowsView(Tensor t) {
        long[] shape = t.shape();
        long[] strides = t.strides();
        int r = shape.length;
        long rows = 1;
        long stride = -1;
        long span = 0;
        for (int i = r - 2; i >= 0; i--) {
            rows *= shape[i];
            if (shape[i] == 1) continue;
            if (stride < 0) {
                stride = strides[i];
                span = shape[i] * strides[i];
            } else if (strides[i] == span) {
                span *= shape[i];
            } else {
                return null;
            }
        }
        if (stride < 0) stride = strides[r - 2];
        return t.viewOf(t.offset(), new long[] {rows, shape[r - 1]}, new long[] {stride, strides[r - 1]});
    }
}
