package dev.soma.model;

import dev.soma.errors.DTypeException;
import dev.soma.ops.Elementwise;
import dev.soma.ops.Losses;
import dev.soma.tensor.DType;
import dev.soma.tensor.Tensor;

import java.util.Map;

/**
 * A training loss with Keras' names. Cross-entropies take probabilities by default (as Keras'
 * {@code from_logits=False}); when the model ends in a softmax or sigmoid, {@link Model} hands the loss the
 * pre-activation logits instead ({@link #fromLogits()}), which is both faster and numerically stable.
 */
public interface Loss {
    String name();

    /** The mean loss over the batch: a 0-d tensor recorded for autograd. */
    Tensor compute(Tensor predictions, Tensor targets);

    /** This loss on logits, when the model's final activation is the one it undoes; else null. */
    default Loss fromLogits() {
        return null;
    }

    /** The final activation that {@link #fromLogits()} folds in ("softmax", "sigmoid"), or null. */
    default String foldsActivation() {
        return null;
    }

    /** Targets are int32 class indices (sparse) rather than floats. */
    default boolean sparseTargets() {
        return false;
    }

    /**
     * The settings beyond the name that recreate this loss through {@link #byName(String, Map)} (checkpoints store
     * them); empty when the name says everything.
     */
    default Map<String, Object> config() {
        return Map.of();
    }

    /**
     * A cross-entropy with label smoothing {@code s} in [0, 1): targets become (1 - s)·y + s/C over C classes
     * (Keras' {@code label_smoothing}; for sparse labels as PyTorch's). Right answers then keep a finite optimum
     * instead of pushing their logits without bound.
     */
    static Loss withLabelSmoothing(String name, double s) {
        return LabelSmoothedLoss.of(byName(name), s);
    }

    /** A loss by name and {@link #config()} (as a checkpoint stores it); the only setting is "label_smoothing". */
    static Loss byName(String name, Map<String, ?> config) {
        return LabelSmoothedLoss.configured(byName(name), config);
    }

    static Loss byName(String name) {
        return switch (name) {
            case "mse", "mean_squared_error" -> simple("mean_squared_error", Losses::meanSquaredError);
            case "binary_crossentropy" -> new Loss() {
                public String name() { return "binary_crossentropy"; }
                public Tensor compute(Tensor p, Tensor t) { return Losses.binaryCrossEntropy(p, t); }
                public Loss fromLogits() { return simple("binary_crossentropy", Losses::binaryCrossEntropyWithLogits); }
                public String foldsActivation() { return "sigmoid"; }
            };
            case "categorical_crossentropy" -> new Loss() {
                public String name() { return "categorical_crossentropy"; }
                public Tensor compute(Tensor p, Tensor t) { return probabilityCrossEntropy(p, t); }
                public Loss fromLogits() { return simple("categorical_crossentropy", Losses::categoricalCrossEntropy); }
                public String foldsActivation() { return "softmax"; }
            };
            case "sparse_categorical_crossentropy" -> new Loss() {
                public String name() { return "sparse_categorical_crossentropy"; }
                public Tensor compute(Tensor p, Tensor t) { return probabilitySparseCrossEntropy(p, t); }
                public Loss fromLogits() {
                    return new Loss() {
                        public String name() { return "sparse_categorical_crossentropy"; }
                        public Tensor compute(Tensor l, Tensor y) { return sparseOverAllSteps(l, y); }
                        public boolean sparseTargets() { return true; }
                    };
                }
                public String foldsActivation() { return "softmax"; }
                public boolean sparseTargets() { return true; }
            };
            default -> throw new IllegalArgumentException("unknown loss '" + name + "': expected mean_squared_error, "
                    + "binary_crossentropy, categorical_crossentropy or sparse_categorical_crossentropy");
        };
    }

    private static Loss simple(String name, java.util.function.BinaryOperator<Tensor> f) {
        return new Loss() {
            public String name() { return name; }
            public Tensor compute(Tensor p, Tensor t) { return f.apply(p, t); }
        };
    }

    /** -mean(sum(t * log(clip(p)))) for probabilities, as Keras (clip to [1e-7, 1 - 1e-7]). */
    private static Tensor probabilityCrossEntropy(Tensor p, Tensor t) {
        Tensor logp = Elementwise.log(Elementwise.clamp(p, 1e-7, 1 - 1e-7));
        Tensor perExample = Elementwise.mul(t, logp).sum(new int[] {-1}, false);
        return perExample.mean().neg();
    }

    /**
     * Sparse cross-entropy from logits {@code [..., C]} and int labels {@code [...]}: every leading position is
     * one row (per-step classification over {@code [N, T, C]}), the mean taken over all of them, as Keras.
     */
    private static Tensor sparseOverAllSteps(Tensor logits, Tensor labels) {
        labels = sparseLabels(labels);
        if (logits.ndim() <= 2) return Losses.sparseCategoricalCrossEntropy(logits, labels);
        long classes = logits.size(-1);
        return Losses.sparseCategoricalCrossEntropy(logits.reshape(-1, classes), labels.reshape(-1));
    }

    /** Sparse labels against probabilities: gathers log(p[label]) through the logits path on log(p). */
    private static Tensor probabilitySparseCrossEntropy(Tensor p, Tensor labels) {
        // log_softmax(log p) == log p when p sums to one, so the fused kernel gives -mean(log p[label]).
        Tensor ids = sparseLabels(labels);
        Tensor logp = Elementwise.log(Elementwise.clamp(p, 1e-7, 1 - 1e-7));
        return Losses.sparseCategoricalCrossEntropy(logp, ids);
    }

    /**
     * Sparse labels as int32 class indices. Float labels are accepted when every value is a whole number (as Keras,
     * where labels often arrive as floats: 3.0 is class 3); any other float is an error, never truncated.
     */
    private static Tensor sparseLabels(Tensor labels) {
        String op = "sparse_categorical_crossentropy";
        if (labels.dtype() == DType.I32) return labels;
        if (!labels.dtype().isFloating()) {
            throw new DTypeException(op + ": labels " + labels.describe() + " must be int32 class indices or floats "
                    + "holding whole numbers");
        }
        double[] v = labels.toDoubleArray();
        for (int i = 0; i < v.length; i++) {
            if (v[i] != Math.rint(v[i]) || Math.abs(v[i]) > Integer.MAX_VALUE) {
                throw new DTypeException(op + ": label " + v[i] + " at index " + i + " of " + labels.describe()
                        + " is not a whole number; sparse labels are class indices (int32, or floats such as 2.0). "
                        + "For one-hot or soft targets use categorical_crossentropy");
            }
        }
        return labels.to(DType.I32);
    }
}
