package dev.soma.ops;

import dev.soma.autograd.Autograd;
import dev.soma.autograd.GradMode;
import dev.soma.errors.ShapeException;
import dev.soma.errors.SomaException;
import dev.soma.tensor.Tensor;

import java.util.Arrays;

/**
 * Layer normalisation over the last axis as one fused op: {@code (x - mean) / sqrt(var + eps) * gamma + beta}
 * with the population variance (Keras' LayerNormalization). The forward saves the per-row mean and
 * 1 / std; the backward is one native pass for x and one column reduction for gamma and beta.
 */
public final class Normalization {
    private static final String OP = "layerNorm";

    private Normalization() {}

    /** gamma and beta: {@code [features]} (the last axis of x), either may be null. */
    public static Tensor layerNorm(Tensor x, Tensor gamma, Tensor beta, double epsilon) {
        Check.open(OP, x);
        Check.floating(OP, x);
        if (x.ndim() == 0) throw new ShapeException(OP + ": input " + x.describe() + " needs a feature axis");
        if (!(epsilon > 0) || !Double.isFinite(epsilon)) {
            throw new SomaException(OP + ": epsilon must be finite and > 0, got " + epsilon);
        }
        long cols = x.size(-1);
        for (Tensor p : new Tensor[] {gamma, beta}) {
            if (p == null) continue;
            Check.sameDevice(OP, x, p);
            Check.sameDType(OP, x, p);
            if (!Arrays.equals(p.shape(), new long[] {cols})) {
                throw new ShapeException(OP + ": gamma/beta " + p.describe() + " must have shape [" + cols
                        + "] (the last axis of " + x.describe() + ")");
            }
        }
        if (cols == 0) throw new ShapeException(OP + ": cannot normalise over an empty last axis of " + x.describe());
        long rows = x.numel() / cols;
        Tensor xc = dense(x);
        Tensor gc = gamma == null ? null : dense(gamma);
        Tensor bc = beta == null ? null : dense(beta);
        Tensor y = Tensor.empty(x.dtype(), x.device(), x.shape());
        Tensor mean = Tensor.empty(x.dtype(), x.device(), rows);
        Tensor rstd = Tensor.empty(x.dtype(), x.device(), rows);
        x.backend().normalization().layerNorm(xc, gc, bc, epsilon, rows, cols, y, mean, rstd);
        if (bc != null && bc != beta) bc.close();
        if (!Autograd.needsGrad(x, gamma, beta)) {
            if (xc != x) xc.close();
            if (gc != null && gc != gamma) gc.close();
            mean.close();
            rstd.close();
            return y;
        }
        return Autograd.record(OP, y, g -> {
            Tensor gy = dense(g);
            Tensor gx = Tensor.empty(x.dtype(), x.device(), x.shape());
            Tensor gg = gamma != null && gamma.requiresGrad() ? Tensor.empty(x.dtype(), x.device(), cols) : null;
            Tensor gb = beta != null && beta.requiresGrad() ? Tensor.empty(x.dtype(), x.device(), cols) : null;
            x.backend().normalization().layerNormBackward(xc, gc, mean, rstd, gy, rows, cols, gx, gg, gb);
            if (gy != g) gy.close();
            return new Tensor[] {gx, gg, gb};
        }, x, gamma, beta);
    }

    /** t when contiguous, else a contiguous copy (not recorded). */
    private static Tensor dense(Tensor t) {
        if (t.isContiguous()) return t;
        try (GradMode.Guard off = GradMode.disable()) {
            return Shapes.copy(t);
        }
    }
}
