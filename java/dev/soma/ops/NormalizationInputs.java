package dev.soma.ops;

import dev.soma.autograd.GradMode;
import dev.soma.errors.ShapeException;
import dev.soma.errors.SomaException;
import dev.soma.tensor.Tensor;

import java.util.Arrays;

/** The checks and contiguous copies the fused normalisations (layerNorm, batchNorm) share. */
final class NormalizationInputs {
    private NormalizationInputs() {}

    /**
     * The size of x's last axis ({@code axis} names it in messages: "feature", "channel") after checking x, epsilon
     * and the optional {@code [size]} gamma and beta, before any native call.
     */
    static long lastAxis(String op, String axis, Tensor x, Tensor gamma, Tensor beta, double epsilon) {
        Check.open(op, x);
        Check.floating(op, x);
        if (x.ndim() == 0) throw new ShapeException(op + ": input " + x.describe() + " needs a " + axis + " axis");
        if (!(epsilon > 0) || !Double.isFinite(epsilon)) {
            throw new SomaException(op + ": epsilon must be finite and > 0, got " + epsilon);
        }
        long cols = x.size(-1);
        for (Tensor p : new Tensor[] {gamma, beta}) {
            if (p == null) continue;
            Check.sameDevice(op, x, p);
            Check.sameDType(op, x, p);
            if (!Arrays.equals(p.shape(), new long[] {cols})) {
                throw new ShapeException(op + ": gamma/beta " + p.describe() + " must have shape [" + cols
                        + "] (the last axis of " + x.describe() + ")");
            }
        }
        if (cols == 0) throw new ShapeException(op + ": cannot normalise over an empty " + axis + " axis of " + x.describe());
        return cols;
    }

    /** t when contiguous, else a contiguous copy (not recorded). */
    static Tensor dense(Tensor t) {
        if (t.isContiguous()) return t;
        try (GradMode.Guard off = GradMode.disable()) {
            return Shapes.copy(t);
        }
    }
}
