package dev.soma.fuzz;

import dev.soma.autograd.GradMode;
import dev.soma.memory.Scope;
import dev.soma.tensor.DType;
import dev.soma.tensor.Tensor;

import java.util.List;
import java.util.SplittableRandom;
import java.util.function.DoubleSupplier;

/**
 * The external oracle for gradients: autograd's directional derivative of a float64 loss along a random direction
 * against central differences of the loss itself. The float32-against-float64 comparison cannot catch a backward that
 * is wrong in both dtypes (the same formula, or the same hand-written kernel); this can.
 *
 * <p>Non-smooth points (ReLU at 0, a max that changes hands, |w| at 0) would make false findings, so the central
 * difference is taken with two steps: where they disagree with each other a kink lies within reach and nothing is
 * judged. The caller moves the point off exact zeros first (random weights, Gaussian inputs).
 */
final class FiniteDifferences {
    private FiniteDifferences() {}

    private static final double[] STEPS = {1e-6, 1e-7};

    /**
     * Null when the directional derivative that {@code leaves}' gradients give (a leaf without one counts as 0) agrees
     * with central differences of {@code loss}, which evaluates the loss at the leaves' current values; else what
     * differs. The leaves (float64) are moved in place and restored.
     */
    static String disagreement(List<Tensor> leaves, DoubleSupplier loss, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        double[][] start = new double[leaves.size()][], direction = new double[leaves.size()][];
        double dot = 0, scale = 0;
        for (int i = 0; i < leaves.size(); i++) {
            Tensor t = leaves.get(i);
            if (t.dtype() != DType.F64) throw new AssertionError("finite differences need float64 leaves: " + t.describe());
            start[i] = t.toDoubleArray();
            direction[i] = new double[start[i].length];
            double[] g = t.grad() == null ? null : t.grad().toDoubleArray();
            for (int j = 0; j < start[i].length; j++) {
                direction[i][j] = r.nextGaussian();
                if (g != null) {
                    dot += g[j] * direction[i][j];
                    scale += Math.abs(g[j] * direction[i][j]);
                }
            }
        }
        double[] central = new double[STEPS.length];
        double at;
        try {
            at = Math.abs(loss.getAsDouble());
            for (int k = 0; k < STEPS.length; k++) {
                set(leaves, start, direction, STEPS[k]);
                double up = loss.getAsDouble();
                set(leaves, start, direction, -STEPS[k]);
                double down = loss.getAsDouble();
                central[k] = (up - down) / (2 * STEPS[k]);
            }
        } finally {
            set(leaves, start, direction, 0);
        }
        // Rounding of the loss over the step, and the cancellation in the dot product, bound what can agree.
        double noise = 1e-8 * (1 + at) + 1e-6 * scale;
        if (!Double.isFinite(central[0]) || !Double.isFinite(central[1])) return null;
        if (Math.abs(central[0] - central[1]) > noise) return null; // a kink within reach: not judged
        if (Math.abs(central[0] - dot) <= noise) return null;
        return "autograd's directional derivative " + dot + ", central differences " + central[0] + " (step "
                + STEPS[0] + ") and " + central[1] + " (step " + STEPS[1] + "), allowed " + noise;
    }

    private static void set(List<Tensor> leaves, double[][] start, double[][] direction, double step) {
        try (Scope s = Scope.open(); GradMode.Guard g = GradMode.disable()) {
            for (int i = 0; i < leaves.size(); i++) {
                double[] v = start[i].clone();
                for (int j = 0; j < v.length; j++) v[j] += step * direction[i][j];
                Tensor target = leaves.get(i);
                target.backend().memory().copy(Tensor.of(v, target.shape()), target);
            }
        }
    }
}
