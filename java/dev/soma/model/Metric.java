package dev.soma.model;

import dev.soma.errors.ShapeException;
import dev.soma.tensor.DType;
import dev.soma.tensor.Tensor;

/**
 * A streaming metric: {@link #update} per batch, {@link #result} over everything since {@link #reset}.
 * Predictions may be logits when the model folded its final softmax/sigmoid into the loss; accuracies only
 * compare ranks or signs, so they read both correctly (the flag says which).
 */
public interface Metric {
    String name();

    void update(Tensor predictions, Tensor targets, boolean logits);

    double result();

    void reset();

    /** Keras names; "accuracy" resolves to the variant that fits the loss. */
    static Metric byName(String name, Loss loss) {
        return switch (name) {
            case "accuracy", "acc" -> switch (loss.name()) {
                case "sparse_categorical_crossentropy" -> new Accuracy("accuracy", Accuracy.Kind.SPARSE, 1);
                case "categorical_crossentropy" -> new Accuracy("accuracy", Accuracy.Kind.CATEGORICAL, 1);
                case "binary_crossentropy" -> new Accuracy("accuracy", Accuracy.Kind.BINARY, 1);
                default -> throw new IllegalArgumentException("metric 'accuracy' is undefined for loss " + loss.name()
                        + "; name the variant (binary_accuracy, categorical_accuracy, sparse_categorical_accuracy)");
            };
            case "binary_accuracy" -> new Accuracy(name, Accuracy.Kind.BINARY, 1);
            case "categorical_accuracy" -> new Accuracy(name, Accuracy.Kind.CATEGORICAL, 1);
            case "sparse_categorical_accuracy" -> new Accuracy(name, Accuracy.Kind.SPARSE, 1);
            case "top_k_categorical_accuracy" -> new Accuracy(name, Accuracy.Kind.CATEGORICAL, 5);
            case "sparse_top_k_categorical_accuracy" -> new Accuracy(name, Accuracy.Kind.SPARSE, 5);
            default -> throw new IllegalArgumentException("unknown metric '" + name + "': expected accuracy, "
                    + "binary_accuracy, categorical_accuracy, sparse_categorical_accuracy, top_k_categorical_accuracy "
                    + "or sparse_top_k_categorical_accuracy");
        };
    }

    /** Accuracies: binary (threshold 0.5, or 0 on logits), categorical / sparse, top-k. */
    final class Accuracy implements Metric {
        enum Kind { BINARY, CATEGORICAL, SPARSE }

        private final String name;
        private final Kind kind;
        private final int k;
        private long correct;
        private long total;

        public Accuracy(String name, Kind kind, int k) {
            this.name = name;
            this.kind = kind;
            this.k = k;
        }

        public static Accuracy topK(int k, boolean sparse) {
            return new Accuracy((sparse ? "sparse_" : "") + "top_" + k + "_categorical_accuracy",
                    sparse ? Kind.SPARSE : Kind.CATEGORICAL, k);
        }

        @Override
        public String name() {
            return name;
        }

        @Override
        public void update(Tensor predictions, Tensor targets, boolean logits) {
            double[] p = predictions.toDoubleArray();
            long n = predictions.size(0);
            if (kind == Kind.BINARY) {
                double[] t = targets.toDoubleArray();
                if (t.length != p.length) {
                    throw new ShapeException(name + ": predictions " + predictions.describe() + " and targets "
                            + targets.describe() + " differ in size");
                }
                double threshold = logits ? 0 : 0.5;
                for (int i = 0; i < p.length; i++) if ((p[i] > threshold) == (t[i] > 0.5)) correct++;
                total += p.length;
                return;
            }
            int classes = (int) (p.length / Math.max(n, 1));
            int[] labels;
            if (kind == Kind.SPARSE) {
                labels = targets.dtype() == DType.I32 ? targets.toIntArray() : toInts(targets.toDoubleArray());
            } else {
                labels = argmaxRows(targets.toDoubleArray(), classes);
            }
            if (labels.length != n) {
                throw new ShapeException(name + ": " + n + " predictions but " + labels.length + " targets ("
                        + predictions.describe() + ", " + targets.describe() + ")");
            }
            for (int r = 0; r < n; r++) {
                double target = p[r * classes + labels[r]];
                int higher = 0;
                for (int c = 0; c < classes; c++) {
                    double v = p[r * classes + c];
                    if (v > target || (v == target && c < labels[r])) higher++;
                }
                if (higher < k) correct++;
            }
            total += n;
        }

        private static int[] toInts(double[] d) {
            int[] out = new int[d.length];
            for (int i = 0; i < d.length; i++) out[i] = (int) d[i];
            return out;
        }

        private static int[] argmaxRows(double[] t, int classes) {
            int rows = t.length / classes;
            int[] out = new int[rows];
            for (int r = 0; r < rows; r++) {
                int best = 0;
                for (int c = 1; c < classes; c++) if (t[r * classes + c] > t[r * classes + best]) best = c;
                out[r] = best;
            }
            return out;
        }

        @Override
        public double result() {
            return total == 0 ? 0 : (double) correct / total;
        }

        @Override
        public void reset() {
            correct = 0;
            total = 0;
        }
    }
}
