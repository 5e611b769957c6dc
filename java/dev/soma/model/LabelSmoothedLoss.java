package dev.soma.model;

import dev.soma.ops.Elementwise;
import dev.soma.ops.Losses;
import dev.soma.ops.Reductions;
import dev.soma.tensor.Tensor;

import java.util.Map;

/**
 * A cross-entropy with label smoothing s (as Keras' {@code label_smoothing} and PyTorch's): every target y becomes
 * (1 - s)·y + s/C over C classes (C = 2 for the binary loss). The loss is linear in its target, so this equals
 * (1 - s)·(the loss on the given targets) + s·(the loss on uniform targets), and that is how it is computed: from
 * existing differentiable ops, so it runs on every backend, and still as a batch mean of per-example losses, which
 * DP-SGD's ghost clipping relies on. Sparse labels are smoothed the same way, over their one-hot rows.
 */
final class LabelSmoothedLoss implements Loss {
    static final String KEY = "label_smoothing";

    private final Loss hard;
    private final double smoothing;
    private final boolean logits;

    private LabelSmoothedLoss(Loss hard, double smoothing, boolean logits) {
        this.hard = hard;
        this.smoothing = smoothing;
        this.logits = logits;
    }

    /** {@code hard} with smoothing {@code s} in [0, 1); s = 0 gives {@code hard} itself. */
    static Loss of(Loss hard, double s) {
        String name = hard.name();
        if (!name.equals("categorical_crossentropy") && !name.equals("sparse_categorical_crossentropy")
                && !name.equals("binary_crossentropy")) {
            throw new IllegalArgumentException("loss " + name + ": label smoothing applies to the cross-entropies "
                    + "(binary_crossentropy, categorical_crossentropy, sparse_categorical_crossentropy) only");
        }
        if (!(s >= 0 && s < 1)) {
            throw new IllegalArgumentException("loss " + name + ": label smoothing must be in [0, 1), got " + s
                    + " (1 would replace every target by the uniform distribution)");
        }
        return s == 0 ? hard : new LabelSmoothedLoss(hard, s, false);
    }

    /** {@code loss} with the settings of {@link Loss#config()}: none, or "label_smoothing". */
    static Loss configured(Loss loss, Map<String, ?> config) {
        if (config == null || config.isEmpty()) return loss;
        for (String key : config.keySet()) {
            if (!key.equals(KEY)) {
                throw new IllegalArgumentException("loss " + loss.name() + ": unknown setting '" + key + "' in " + config
                        + "; expected " + KEY);
            }
        }
        if (!(config.get(KEY) instanceof Number s)) {
            throw new IllegalArgumentException("loss " + loss.name() + ": " + KEY + " must be a number, got " + config.get(KEY));
        }
        return of(loss, s.doubleValue());
    }

    @Override
    public String name() {
        return hard.name();
    }

    @Override
    public Tensor compute(Tensor predictions, Tensor targets) {
        Tensor given = hard.compute(predictions, targets);
        return given.mul(1 - smoothing).add(uniformTargetLoss(predictions).mul(smoothing));
    }

    /** The loss against uniform targets: the mean over every position and class of -log q. */
    private Tensor uniformTargetLoss(Tensor predictions) {
        if (hard.name().equals("binary_crossentropy")) {
            Tensor half = Tensor.full(0.5, predictions.dtype(), predictions.device(), predictions.shape());
            return logits ? Losses.binaryCrossEntropyWithLogits(predictions, half) : Losses.binaryCrossEntropy(predictions, half);
        }
        Tensor logq = logits ? Reductions.logSoftmax(predictions, -1)
                : Elementwise.log(Elementwise.clamp(predictions, Losses.EPSILON, 1 - Losses.EPSILON));
        return logq.mean().neg();
    }

    @Override
    public Loss fromLogits() {
        Loss hardFromLogits = hard.fromLogits();
        return hardFromLogits == null ? null : new LabelSmoothedLoss(hardFromLogits, smoothing, true);
    }

    @Override
    public String foldsActivation() {
        return hard.foldsActivation();
    }

    @Override
    public boolean sparseTargets() {
        return hard.sparseTargets();
    }

    @Override
    public Map<String, Object> config() {
        return Map.of(KEY, smoothing);
    }

    @Override
    public String toString() {
        return name() + "(label_smoothing=" + smoothing + ")";
    }
}
