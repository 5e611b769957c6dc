package dev.soma.ops;

import dev.soma.autograd.Autograd;
import dev.soma.errors.ShapeException;
import dev.soma.tensor.Tensor;

/**
 * Batch normalisation in training over the last (channel) axis as one fused op, as Keras' BatchNormalization:
 * per channel, the mean and population variance over every other axis, {@code (x - mean) / sqrt(var + eps) *
 * gamma + beta}. The forward saves the per-channel mean and 1 / std; the backward is one column reduction of
 * gradY and gradY * xhat (the gamma and beta gradients) and one pass for x.
 */
public final class BatchNorm {
    private static final String OP = "batchNorm";

    private BatchNorm() {}

    /**
     * The training forward's outputs: y (recorded for autograd), and the batch mean and population variance per
     * channel ({@code [channels]}, not recorded: the layer's moving statistics read them). The backward reads mean
     * too: leave it open until then (its scope closes it).
     */
    public record Result(Tensor y, Tensor mean, Tensor variance) {}

    /** gamma and beta: {@code [channels]} (the last axis of x), either may be null. x needs at least one row. */
    public static Result training(Tensor x, Tensor gamma, Tensor beta, double epsilon) {
        long cols = NormalizationInputs.lastAxis(OP, "channel", x, gamma, beta, epsilon);
        long rows = x.numel() / cols;
        if (rows == 0) {
            throw new ShapeException(OP + ": input " + x.describe()
                    + " has no elements per channel; batch statistics need at least one");
        }
        Tensor xc = NormalizationInputs.dense(x);
        Tensor gc = gamma == null ? null : NormalizationInputs.dense(gamma);
        Tensor bc = beta == null ? null : NormalizationInputs.dense(beta);
        Tensor y = Tensor.empty(x.dtype(), x.device(), x.shape());
        Tensor mean = Tensor.empty(x.dtype(), x.device(), cols);
        Tensor variance = Tensor.empty(x.dtype(), x.device(), cols);
        Tensor rstd = Tensor.empty(x.dtype(), x.device(), cols);
        x.backend().normalization().batchNorm(xc, gc, bc, epsilon, rows, cols, y, mean, variance, rstd);
        if (bc != null && bc != beta) bc.close();
        if (!Autograd.needsGrad(x, gamma, beta)) {
            if (xc != x) xc.close();
            if (gc != null && gc != gamma) gc.close();
            rstd.close();
            return new Result(y, mean, variance);
        }
        Tensor out = Autograd.record(OP, y, g -> {
            Tensor gy = NormalizationInputs.dense(g);
            Tensor gx = Tensor.empty(x.dtype(), x.device(), x.shape());
            Tensor gg = gamma != null && gamma.requiresGrad() ? Tensor.empty(x.dtype(), x.device(), cols) : null;
            Tensor gb = beta != null && beta.requiresGrad() ? Tensor.empty(x.dtype(), x.device(), cols) : null;
            x.backend().normalization().batchNormBackward(xc, gc, mean, rstd, gy, rows, cols, gx, gg, gb);
            if (gy != g) gy.close();
            return new Tensor[] {gx, gg, gb};
        }, x, gamma, beta);
        return new Result(out, mean, variance);
    }
}
