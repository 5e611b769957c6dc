package dev.soma.ops;

import dev.soma.autograd.Autograd;
import dev.soma.tensor.Tensor;

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
        long cols = NormalizationInputs.lastAxis(OP, "feature", x, gamma, beta, epsilon);
        long rows = x.numel() / cols;
        Tensor xc = NormalizationInputs.dense(x);
        Tensor gc = gamma == null ? null : NormalizationInputs.dense(gamma);
        Tensor bc = beta == null ? null : NormalizationInputs.dense(beta);
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
            Tensor gy = NormalizationInputs.dense(g);
            Tensor gx = Tensor.empty(x.dtype(), x.device(), x.shape());
            Tensor gg = gamma != null && gamma.requiresGrad() ? Tensor.empty(x.dtype(), x.device(), cols) : null;
            Tensor gb = beta != null && beta.requiresGrad() ? Tensor.empty(x.dtype(), x.device(), cols) : null;
            x.backend().normalization().layerNormBackward(xc, gc, mean, rstd, gy, rows, cols, gx, gg, gb);
            if (gy != g) gy.close();
            return new Tensor[] {gx, gg, gb};
        }, x, gamma, beta);
    }
}
