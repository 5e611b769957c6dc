package dev.soma.explain;

import dev.soma.model.Sequential;
import dev.soma.nn.Dense;
import dev.soma.testing.NoLeaks;
import dev.soma.zoo.ReferenceModels;
import dev.soma.data.ArrayDataset;
import dev.soma.model.FitOptions;
import dev.soma.optim.Adam;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.Locale;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/** Integrated Gradients: completeness on the reference CNN, exactness on a linear model, the quadrature rules. */
@ExtendWith(NoLeaks.class)
class IntegratedGradientsTest {
    static final long[] MNIST = {28, 28, 1};

    /** A digit-like test image: a bright ring on a dark background, with a little noise. */
    static float[] ring(long seed) {
        return ring(seed, 7);
    }

    static float[] ring(long seed, double radius) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] x = new float[28 * 28];
        for (int y = 0; y < 28; y++) {
            for (int c = 0; c < 28; c++) {
                double d = Math.hypot(y - 14, c - 14);
                x[y * 28 + c] = (float) Math.min(1, Math.max(0, 1 - Math.abs(d - radius) / 2.5) + 0.05 * r.nextDouble());
            }
        }
        return x;
    }

    static Sequential cnn;

    /**
     * The reference CNN trained briefly (one epoch of 8 Adam steps on 256 synthetic ring images, the ring's radius
     * giving the class). Freshly initialised, its biases are zero, so the ReLU network is positively homogeneous
     * (F(a x) = a F(x)) and the gradient is constant along IG's path from a zero baseline: any rule would be exact
     * and the test could not fail. A few steps make the biases non-zero and the path gradient piecewise constant
     * with real kinks, which the quadrature must integrate.
     */
    @BeforeAll
    static void trainBriefly() {
        cnn = ReferenceModels.imageClassifier("cnn", 10);
        cnn.seed(7);
        int n = 256;
        float[] x = new float[n * 784];
        int[] y = new int[n];
        SplittableRandom r = new SplittableRandom(5);
        for (int i = 0; i < n; i++) {
            y[i] = i % 10;
            System.arraycopy(ring(r.nextLong(), 3 + y[i]), 0, x, i * 784, 784);
        }
        cnn.compile(new Adam(1e-3), "sparse_categorical_crossentropy", "accuracy");
        cnn.fit(ArrayDataset.withLabels(x, MNIST, y), new FitOptions().batchSize(32).epochs(1).verbose(0));
    }

    @AfterAll
    static void close() {
        cnn.close();
    }

    /** The bar: at 64 steps the attributions sum to within 1 % of F(x) - F(baseline). */
    @Test
    void completenessOnTheReferenceCnnWithin1PercentAt64Steps() {
        float[] x = ring(1, 7);
        String[] names = {"zeros", "blurred"};
        Baseline[] baselines = {Baseline.zeros(), Baseline.blurred(4)};
        for (int unit : new int[] {3, 7}) {
            for (Target t : new Target[] {Target.logit(cnn, unit), Target.output(cnn, unit)}) {
                for (IntegrationRule rule : new IntegrationRule[] {IntegrationRule.GAUSS_LEGENDRE, IntegrationRule.RIEMANN_TRAPEZOID}) {
                    for (int k = 0; k < baselines.length; k++) {
                        Attribution a = new IntegratedGradients().steps(64).rule(rule).baseline(baselines[k]).attribute(t, x, MNIST);
                        double expected = a.sum() - a.delta();
                        System.out.printf(Locale.ROOT, "IG completeness, reference CNN (briefly trained), %s, %s, %s baseline, "
                                        + "64 steps: F(x)-F(b) = %.6g, sum = %.6g, delta = %.3g, relative %.4f%%%n",
                                t.description(), rule.cliName(), names[k], expected, a.sum(), a.delta(), 100 * a.relativeDelta());
                        assertTrue(Math.abs(expected) > 1e-4, "F(x) - F(baseline) too small to test: " + expected);
                        assertTrue(a.relativeDelta() < 0.01, rule + " " + t.description() + " " + names[k] + ": delta "
                                + a.delta() + " is more than 1% of " + expected);
                    }
                }
            }
        }
    }

    /** The test above can fail: with too few steps the same rule misses completeness by far more than 1 %. */
    @Test
    void fewStepsMissCompleteness() {
        Attribution a = new IntegratedGradients().steps(2).rule(IntegrationRule.RIEMANN_LEFT)
                .attribute(Target.output(cnn, 7), ring(1, 7), MNIST);
        System.out.printf(Locale.ROOT, "IG with 2 left-Riemann steps: relative delta %.2f%%%n", 100 * a.relativeDelta());
        assertTrue(a.relativeDelta() > 0.01, "relative delta " + a.relativeDelta());
    }

    /** A noise baseline makes a rougher path (more ReLU kinks): the error shrinks with steps, under 1 % by 64. */
    @Test
    void uniformBaselineConvergesWithSteps() {
        float[] x = ring(2, 7);
        Target t = Target.logit(cnn, 7);
        double[] rel = new double[3];
        int[] steps = {16, 64, 256};
        for (int i = 0; i < steps.length; i++) {
            Attribution a = new IntegratedGradients().steps(steps[i]).baseline(Baseline.uniform(0, 1, 3)).attribute(t, x, MNIST);
            System.out.printf(Locale.ROOT, "IG completeness, uniform baseline, %d steps: delta %.3g, relative %.4f%%%n",
                    steps[i], a.delta(), 100 * a.relativeDelta());
            rel[i] = a.relativeDelta();
        }
        assertTrue(rel[1] < 0.01 && rel[2] < rel[0], "relative deltas at 16, 64, 256 steps: " + java.util.Arrays.toString(rel));
    }

    /** On F(x) = w.x + b every method has a closed form: saliency w, gradient x input and IG (zero baseline) w * x. */
    @Test
    void linearModelGivesTheClosedForms() {
        try (Sequential m = new Sequential(new Dense(3))) {
            m.seed(4);
            m.build(5);
            float[] w = m.layers().get(0).params().get(0).value().toFloatArray(); // kernel [5, 3]
            float[] x = {0.5f, -1f, 2f, 0.25f, 1.5f};
            Target t = Target.output(m, 2);
            Attribution s = new Saliency().attribute(t, x, new long[] {5});
            Attribution g = new GradientTimesInput().attribute(t, x, new long[] {5});
            Attribution ig = new IntegratedGradients().steps(4).rule(IntegrationRule.RIEMANN_LEFT).attribute(t, x, new long[] {5});
            Attribution occ = new Occlusion().window(1).stride(1).attribute(t, x, new long[] {5});
            for (int i = 0; i < 5; i++) {
                float wi = w[i * 3 + 2];
                assertEquals(wi, s.values()[i], 1e-6);
                assertEquals(wi * x[i], g.values()[i], 1e-6);
                assertEquals(wi * x[i], ig.values()[i], 1e-5);
                assertEquals(wi * x[i], occ.values()[i], 1e-5);
            }
            assertEquals(0, ig.delta(), 1e-5);
        }
    }

    @Test
    void quadratureRulesIntegrateOnZeroToOne() {
        for (IntegrationRule r : IntegrationRule.values()) {
            double[][] aw = r.pointsAndWeights(7);
            double sum = 0;
            for (double w : aw[1]) sum += w;
            assertEquals(1, sum, 1e-12, r.name());
            for (double a : aw[0]) assertTrue(a >= 0 && a <= 1, r + " point " + a);
        }
        // Gauss-Legendre with n points is exact for degree 2n - 1: the integral of t^5 on [0, 1] with 3 points.
        double[][] gl = IntegrationRule.GAUSS_LEGENDRE.pointsAndWeights(3);
        double integral = 0;
        for (int i = 0; i < 3; i++) integral += gl[1][i] * Math.pow(gl[0][i], 5);
        assertEquals(1.0 / 6, integral, 1e-14);
        double[][] two = IntegrationRule.legendre(2);
        assertEquals(-1 / Math.sqrt(3), two[0][0], 1e-14);
        assertEquals(1 / Math.sqrt(3), two[0][1], 1e-14);
        // The trapezoid's and the midpoint's errors on t^2 are the textbook ones.
        double[][] trap = IntegrationRule.RIEMANN_TRAPEZOID.pointsAndWeights(11);
        double t2 = 0;
        for (int i = 0; i < 11; i++) t2 += trap[1][i] * trap[0][i] * trap[0][i];
        assertEquals(1.0 / 3 + 1.0 / (6 * 100), t2, 1e-12);
    }

    @Test
    void baselinesAreWhatTheySay() {
        float[] x = ring(3);
        float[] flat = new float[28 * 28];
        java.util.Arrays.fill(flat, 0.4f);
        for (float v : Baseline.blurred(3).of(flat, MNIST)) assertEquals(0.4f, v, 1e-5); // blurring a constant keeps it
        float[] blurred = Baseline.blurred(3).of(x, MNIST);
        assertTrue(variance(blurred) < variance(x) / 2, "blurring must smooth the image");
        float[] u1 = Baseline.uniform(0.2, 0.6, 9).of(x, MNIST);
        assertArrayEquals(u1, Baseline.uniform(0.2, 0.6, 9).of(x, MNIST));
        for (float v : u1) assertTrue(v >= 0.2f && v < 0.6f);
        assertThrows(dev.soma.errors.ShapeException.class, () -> Baseline.of(new float[3]).of(x, MNIST));
    }

    private static double variance(float[] v) {
        double m = 0, s = 0;
        for (float f : v) m += f;
        m /= v.length;
        for (float f : v) s += (f - m) * (f - m);
        return s / v.length;
    }
}
