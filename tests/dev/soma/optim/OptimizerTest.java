package dev.soma.optim;

import dev.soma.memory.Scope;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import dev.soma.testing.Reference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/** Each fused native update against a plain Java implementation of the published update rule. */
@ExtendWith(NoLeaks.class)
class OptimizerTest {
    private static final int N = 1000;
    private static final int STEPS = 5;

    /** Gradients per step, deterministic. */
    private static double[] grad(int step, int n) {
        SplittableRandom r = new SplittableRandom(100 + step);
        double[] g = new double[n];
        for (int i = 0; i < n; i++) g[i] = r.nextGaussian() * (i % 7 == 0 ? 5 : 1);
        return g;
    }

    private static double[] start(int n) {
        SplittableRandom r = new SplittableRandom(5);
        double[] p = new double[n];
        for (int i = 0; i < n; i++) p[i] = r.nextGaussian();
        return p;
    }

    /** Runs the optimizer STEPS times on one f64 parameter of N elements; returns its final values. */
    private static double[] run(Optimizer opt) {
        try (Scope s = Scope.open(); opt) {
            Tensor p = Tensor.of(start(N)).setRequiresGrad(true);
            for (int step = 0; step < STEPS; step++) {
                try (Scope inner = Scope.open()) {
                    p.zeroGrad();
                    p.accumulateGrad(Tensor.of(grad(step, N)));
                    opt.step(List.of(p));
                }
            }
            p.zeroGrad();
            return p.toDoubleArray();
        }
    }

    private static void assertMatches(double[] ref, double[] got) {
        Reference.assertClose(got, ref, 1e-12);
    }

    @Test
    void sgdPlainMomentumAndNesterov() {
        for (double mu : new double[] {0, 0.9}) {
            for (boolean nesterov : mu == 0 ? new boolean[] {false} : new boolean[] {false, true}) {
                double lr = 0.05;
                double[] p = start(N);
                double[] v = new double[N];
                for (int step = 0; step < STEPS; step++) {
                    double[] g = grad(step, N);
                    for (int i = 0; i < N; i++) {
                        if (mu == 0) {
                            p[i] -= lr * g[i];
                        } else {
                            v[i] = mu * v[i] - lr * g[i];
                            p[i] += nesterov ? mu * v[i] - lr * g[i] : v[i];
                        }
                    }
                }
                assertMatches(p, run(new SGD(lr, mu, nesterov)));
            }
        }
    }

    private static double[] adamReference(double lr, double wd, boolean decoupled, double clipValue) {
        double b1 = 0.9, b2 = 0.999, eps = 1e-7;
        double[] p = start(N);
        double[] m = new double[N];
        double[] v = new double[N];
        for (int step = 1; step <= STEPS; step++) {
            double[] g = grad(step - 1, N);
            for (int i = 0; i < N; i++) {
                double gi = clipValue > 0 ? Math.max(-clipValue, Math.min(clipValue, g[i])) : g[i];
                if (decoupled) p[i] -= lr * wd * p[i];
                else gi += wd * p[i];
                m[i] = b1 * m[i] + (1 - b1) * gi;
                v[i] = b2 * v[i] + (1 - b2) * gi * gi;
                double mHat = m[i] / (1 - Math.pow(b1, step));
                double vHat = v[i] / (1 - Math.pow(b2, step));
                p[i] -= lr * mHat / (Math.sqrt(vHat) + eps);
            }
        }
        return p;
    }

    @Test
    void adamAdamWAndClipValue() {
        assertMatches(adamReference(0.01, 0, false, 0), run(new Adam(0.01)));
        assertMatches(adamReference(0.01, 0.1, false, 0), run(new Adam(0.01).weightDecay(0.1)));
        assertMatches(adamReference(0.01, 0.004, true, 0), run(new AdamW(0.01)));
        assertMatches(adamReference(0.01, 0, false, 0.5), run(new Adam(0.01).clipValue(0.5)));
    }

    @Test
    void rmspropWithAndWithoutMomentum() {
        for (double mu : new double[] {0, 0.5}) {
            double lr = 0.01, rho = 0.9, eps = 1e-7;
            double[] p = start(N);
            double[] a = new double[N];
            double[] mom = new double[N];
            for (int step = 0; step < STEPS; step++) {
                double[] g = grad(step, N);
                for (int i = 0; i < N; i++) {
                    a[i] = rho * a[i] + (1 - rho) * g[i] * g[i];
                    double d = lr * g[i] / (Math.sqrt(a[i]) + eps);
                    if (mu > 0) {
                        mom[i] = mu * mom[i] + d;
                        p[i] -= mom[i];
                    } else {
                        p[i] -= d;
                    }
                }
            }
            assertMatches(p, run(new RMSprop(lr, rho, mu, eps)));
        }
    }

    @Test
    void globalClipNormScalesAllGradientsTogether() {
        double lr = 0.1, bound = 1.0;
        double[] p = start(N);
        for (int step = 0; step < STEPS; step++) {
            double[] g = grad(step, N);
            double norm = 0;
            for (double x : g) norm += x * x;
            norm = Math.sqrt(norm);
            double scale = norm > bound ? bound / norm : 1;
            for (int i = 0; i < N; i++) p[i] -= lr * g[i] * scale;
        }
        assertMatches(p, run(new SGD(lr).globalClipNorm(bound)));
    }

    @Test
    void float32UpdatesAgreeWithFloat64() {
        try (Scope s = Scope.open(); Adam opt = new Adam(0.01)) {
            Tensor p = Tensor.of(start(N)).to(dev.soma.tensor.DType.F32).setRequiresGrad(true);
            for (int step = 0; step < STEPS; step++) {
                p.zeroGrad();
                p.accumulateGrad(Tensor.of(grad(step, N)).to(dev.soma.tensor.DType.F32));
                opt.step(List.of(p));
            }
            p.zeroGrad();
            Reference.assertClose(p.toDoubleArray(), adamReference(0.01, 0, false, 0), Reference.ELEMENTWISE_F32);
        }
    }

    @Test
    void schedulesFollowTheirFormulas() {
        assertEquals(0.1, LearningRateSchedule.exponentialDecay(0.1, 10, 0.5, true).at(9), 1e-15);
        assertEquals(0.05, LearningRateSchedule.exponentialDecay(0.1, 10, 0.5, true).at(10), 1e-15);
        assertEquals(0.1 * Math.pow(0.5, 0.5), LearningRateSchedule.exponentialDecay(0.1, 10, 0.5, false).at(5), 1e-15);
        assertEquals(0.05, LearningRateSchedule.cosineDecay(0.1, 100, 0).at(50), 1e-12);
        assertEquals(0.01, LearningRateSchedule.cosineDecay(0.1, 100, 0.1).at(500), 1e-12);
        LearningRateSchedule pw = LearningRateSchedule.piecewiseConstant(new long[] {10, 20}, new double[] {1, 0.5, 0.1});
        assertEquals(1, pw.at(9));
        assertEquals(0.5, pw.at(10));
        assertEquals(0.1, pw.at(25));
        SGD sgd = new SGD(1);
        sgd.schedule(pw);
        assertEquals(1, sgd.currentLearningRate());
    }

    @Test
    void badHyperParametersAreRejected() {
        assertThrows(IllegalArgumentException.class, () -> new SGD(0.1, 1.5, false));
        assertThrows(IllegalArgumentException.class, () -> new SGD(0.1, 0, true));
        assertThrows(IllegalArgumentException.class, () -> new Adam(0.1, 1.0, 0.9, 1e-7));
        assertThrows(IllegalArgumentException.class, () -> new Adam(0.1).clipValue(-1));
    }

    /**
     * NaN passed every check written as "x < 0 || x >= 1" (found by OptionsFuzzTest): SGD's NaN momentum crashed the
     * JVM (the update read a velocity that was never made), NaN betas, decays and schedule values trained every weight
     * to NaN, a zero or infinite epsilon divided by zero or froze training.
     */
    @Test
    void nanAndOtherNonsenseHyperParametersAreRefusedWhereGiven() {
        double nan = Double.NaN, inf = Double.POSITIVE_INFINITY;
        List<org.junit.jupiter.api.function.Executable> bad = List.of(
                () -> new SGD(0.1, nan, false), () -> new SGD(0.1, nan, true), () -> new SGD(0.1).weightDecay(nan),
                () -> new SGD(0.1).weightDecay(-0.1), () -> new Adam(0.1, nan, 0.999, 1e-7),
                () -> new Adam(0.1, 0.9, nan, 1e-7), () -> new Adam(0.1, 0.9, 0.999, nan), () -> new Adam(0.1, 0.9, 0.999, inf),
                () -> new Adam(0.1).weightDecay(inf), () -> new AdamW(0.1, nan), () -> new RMSprop(0.1, nan, 0, 1e-7),
                () -> new RMSprop(0.1, 0.9, nan, 1e-7), () -> new RMSprop(0.1, 0.9, 0, 0), () -> new RMSprop(0.1, 0.9, 0, nan),
                () -> LearningRateSchedule.constant(nan), () -> LearningRateSchedule.exponentialDecay(nan, 10, 0.9, false),
                () -> LearningRateSchedule.exponentialDecay(0.1, 10, -0.9, false),
                () -> LearningRateSchedule.cosineDecay(0.1, 10, nan),
                () -> LearningRateSchedule.piecewiseConstant(new long[] {5, 2}, new double[] {0.1, 0.01, 0.001}),
                () -> LearningRateSchedule.piecewiseConstant(new long[] {5}, new double[] {0.1, -inf}),
                () -> new dev.soma.model.FitOptions().validationSplit(nan),
                () -> new dev.soma.model.EarlyStopping("val_loss", 2, nan, false),
                () -> new dev.soma.nn.LayerNormalization(inf));
        for (int i = 0; i < bad.size(); i++) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, bad.get(i), "case " + i);
            assertTrue(e.getMessage().matches(".*(must|need|increase).*"), "case " + i + ": " + e.getMessage());
        }
    }

    /**
     * Optimizer state below the smallest normal float is flushed to 0 instead of kept as a denormal (each denormal
     * operand costs Intel cores a microcode assist: a settled CNN run's Adam took 10 ms instead of 1 ms on a Xeon),
     * on the team's threads as on the caller's; and the calling (JVM) thread keeps IEEE denormals afterwards.
     */
    @Test
    void denormalStateIsFlushedAndTheCallersFloatsKeepTheirDenormals() {
        for (int n : new int[] {100, 100_000}) { // one thread, and the OpenMP team
            // Adam's v = (1 - 0.999) * g^2 = 1e-43 and RMSprop's average 1e-41: denormal floats, stored as 0.
            assertAllZero(stateAfterOneStep(new Adam(0.001), n, 1e-20f, 1), "Adam v, n=" + n);
            assertAllZero(stateAfterOneStep(new RMSprop(0.001, 0.9, 0, 1e-7), n, 1e-20f, 0), "RMSprop average, n=" + n);
            // SGD's velocity -lr * g = -1e-39: denormal, stored as 0.
            assertAllZero(stateAfterOneStep(new SGD(0.1, 0.9, false), n, 1e-38f, 0), "SGD velocity, n=" + n);
        }
        float half = tinyNormal / 2; // computed here, on the thread that called the kernels
        assertEquals(Float.MIN_NORMAL / 2, half, 0f, "the caller's denormals were flushed too");
        assertTrue(half > 0);
    }

    private static volatile float tinyNormal = Float.MIN_NORMAL;

    private static float[] stateAfterOneStep(Optimizer opt, int n, float g, int slot) {
        try (Scope s = Scope.open(); opt) {
            Tensor p = Tensor.of(new float[n], n).setRequiresGrad(true);
            float[] grad = new float[n];
            java.util.Arrays.fill(grad, g);
            p.accumulateGrad(Tensor.of(grad, n));
            opt.step(List.of(p));
            p.zeroGrad();
            return opt.stateTensors(List.of(p)).get("0/" + slot).toFloatArray();
        }
    }

    private static void assertAllZero(float[] values, String what) {
        for (int i = 0; i < values.length; i++) assertEquals(0f, values[i], 0f, what + " at " + i);
    }
}
