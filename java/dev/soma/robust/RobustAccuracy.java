package dev.soma.robust;

import dev.soma.autograd.GradMode;
import dev.soma.errors.ShapeException;
import dev.soma.memory.Scope;
import dev.soma.model.Model;
import dev.soma.tensor.Tensor;

import java.util.Arrays;
import java.util.function.UnaryOperator;

/**
 * Clean and robust accuracy of a classifier on labelled host data, batch by batch: the attack (or a noise) is
 * applied to each batch and the model's arg-max prediction compared with the label. The adversarial inputs are
 * kept for the first {@code keep} examples, for pictures.
 */
public final class RobustAccuracy {
    /** Accuracies in [0, 1] and the first examples' adversarial inputs. */
    public record Result(double clean, double robust, float[] adversarialHead) {}

    private RobustAccuracy() {}

    public static Result of(Model model, Attack attack, float[] images, long[] exampleShape, int[] labels, int batchSize,
                            int keep) {
        int per = check(images, exampleShape, labels, batchSize);
        if (keep < 0) throw new IllegalArgumentException("robust accuracy: examples to keep must be >= 0, got " + keep);
        int n = labels.length;
        int cleanRight = 0;
        int robustRight = 0;
        float[] head = new float[Math.min(keep, n) * per];
        for (int start = 0; start < n; start += batchSize) {
            int b = Math.min(batchSize, n - start);
            float[] x = Arrays.copyOfRange(images, start * per, (start + b) * per);
            int[] yb = Arrays.copyOfRange(labels, start, start + b);
            try (Scope scope = Scope.open()) {
                Tensor xt = onModelDevice(model, x, shape(b, exampleShape));
                float[] cleanOut = outputs(model, xt);
                cleanRight += correct(cleanOut, yb);
                Tensor yt = Targets.of(model, yb, cleanOut.length / b);
                Tensor adv = attack.perturb(model, xt, yt);
                robustRight += correct(outputs(model, adv), yb);
                if (start * per < head.length) {
                    float[] a = adv.toFloatArray();
                    System.arraycopy(a, 0, head, start * per, Math.min(a.length, head.length - start * per));
                }
            }
        }
        return new Result((double) cleanRight / n, (double) robustRight / n, head);
    }

    /** Accuracy on inputs changed by {@code change} (host arrays; e.g. Gaussian noise), or unchanged for identity. */
    public static double underChange(Model model, UnaryOperator<float[]> change, float[] images, long[] exampleShape,
                                     int[] labels, int batchSize) {
        int per = check(images, exampleShape, labels, batchSize);
        int right = 0;
        for (int start = 0; start < labels.length; start += batchSize) {
            int b = Math.min(batchSize, labels.length - start);
            float[] x = change.apply(Arrays.copyOfRange(images, start * per, (start + b) * per));
            try (Scope scope = Scope.open()) {
                right += correct(outputs(model, onModelDevice(model, x, shape(b, exampleShape))),
                        Arrays.copyOfRange(labels, start, start + b));
            }
        }
        return (double) right / labels.length;
    }

    static float[] outputs(Model model, Tensor x) {
        try (GradMode.Guard g = GradMode.disable()) {
            return model.call(x).toFloatArray();
        }
    }

    /** How many rows of {@code out} (one row of class scores per label) have their arg-max at the label. */
    static int correct(float[] out, int[] labels) {
        int classes = out.length / labels.length;
        int right = 0;
        for (int i = 0; i < labels.length; i++) {
            int best = 0;
            for (int c = 1; c < classes; c++) if (out[i * classes + c] > out[i * classes + best]) best = c;
            if (best == labels[i]) right++;
        }
        return right;
    }

    private static Tensor onModelDevice(Model model, float[] x, long[] shape) {
        Tensor host = Tensor.of(x, shape);
        return host.device().equals(model.device()) ? host : host.to(model.device());
    }

    private static long[] shape(int batch, long[] exampleShape) {
        long[] s = new long[exampleShape.length + 1];
        s[0] = batch;
        System.arraycopy(exampleShape, 0, s, 1, exampleShape.length);
        return s;
    }

    private static int check(float[] images, long[] exampleShape, int[] labels, int batchSize) {
        if (batchSize < 1) throw new IllegalArgumentException("robust accuracy: batch size must be >= 1, got " + batchSize);
        if (labels.length == 0) throw new IllegalArgumentException("robust accuracy: no examples given");
        long per = 1;
        for (long d : exampleShape) per *= d;
        if (per * labels.length != images.length) {
            throw new ShapeException("robust accuracy: " + images.length + " values are not " + labels.length
                    + " examples of shape " + Arrays.toString(exampleShape));
        }
        return (int) per;
    }
}
