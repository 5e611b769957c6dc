package dev.soma.gan;

import dev.soma.memory.Scope;
import dev.soma.model.Sequential;
import dev.soma.nn.Activation;
import dev.soma.nn.Dense;
import dev.soma.nn.Dropout;
import dev.soma.nn.Layer;
import dev.soma.nn.LeakyReLU;
import dev.soma.tensor.DType;
import dev.soma.tensor.Device;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The penalty's gradient with respect to the critic's weights is a second derivative; it is checked against
 * central finite differences of the penalty computed from autograd's own (first-order) input gradient.
 */
@ExtendWith(NoLeaks.class)
class GradientPenaltyTest {
    /** A float64 critic covering every supported layer and activation. */
    static Sequential critic(long in) {
        Layer[] layers = {new Dense(5, "tanh"), new LeakyReLU(0.2), new Dense(4, "sigmoid"), new Dense(6, "leaky_relu"),
                new Activation("tanh"), new Dense(3, "relu"), new Dense(1)};
        SplittableRandom rng = new SplittableRandom(7);
        long[] shape = {in};
        for (Layer l : layers) {
            l.build(shape, DType.F64, rng.split());
            shape = l.outputShape();
        }
        return new Sequential(layers);
    }

    /** mean((‖∇x D(x)‖ − 1)²) with the input gradient taken from autograd's backward (first order). */
    static double referencePenalty(Sequential critic, double[] x, long n, long f) {
        try (Scope s = Scope.open()) {
            Tensor xt = Tensor.of(x).reshape(n, f);
            xt.setRequiresGrad(true);
            critic.forwardTraining(xt, false).sum().backward();
            double[] g = xt.grad().toDoubleArray();
            xt.zeroGrad();
            for (Tensor p : critic.trainableTensors()) p.zeroGrad();
            double total = 0;
            for (int i = 0; i < n; i++) {
                double sq = 0;
                for (int j = 0; j < f; j++) sq += g[(int) (i * f + j)] * g[(int) (i * f + j)];
                double gap = Math.sqrt(sq + 1e-12) - 1;
                total += gap * gap;
            }
            return total / n;
        }
    }

    @Test
    void explicitInputGradientMatchesAutograd() {
        try (Sequential c = critic(4); Scope s = Scope.open()) {
            Tensor x = dev.soma.ops.Creation.randn(3, DType.F64, Device.cpu(), 6, 4);
            double[] explicit = GradientPenalty.inputGradient(c, x).toDoubleArray();
            Tensor xr = x.copy();
            xr.setRequiresGrad(true);
            c.forwardTraining(xr, false).sum().backward();
            double[] auto = xr.grad().toDoubleArray();
            xr.zeroGrad();
            for (Tensor p : c.trainableTensors()) p.zeroGrad();
            assertEquals(auto.length, explicit.length);
            for (int i = 0; i < auto.length; i++) assertEquals(auto[i], explicit[i], 1e-12 * (1 + Math.abs(auto[i])), "element " + i);
        }
    }

    @Test
    void penaltyGradientMatchesFiniteDifferences() {
        long n = 5;
        long f = 4;
        try (Sequential c = critic(f); Scope s = Scope.open()) {
            double[] x = dev.soma.ops.Creation.randn(11, DType.F64, Device.cpu(), n, f).mul(1.5).toDoubleArray();
            Tensor points = Tensor.of(x).reshape(n, f);
            Tensor pen = GradientPenalty.penaltyAt(c, points);
            assertEquals(referencePenalty(c, x, n, f), pen.item(), 1e-12, "the penalty's value");
            for (Tensor p : c.trainableTensors()) p.zeroGrad();
            pen.backward();
            // Read every analytic gradient first: the reference penalty runs backward and clears them.
            java.util.List<double[]> analytics = new java.util.ArrayList<>();
            for (Tensor p : c.trainableTensors()) {
                // No gradient at all where the weight cannot move the input gradient (the last bias, a relu bias).
                analytics.add(p.grad() == null ? new double[(int) p.numel()] : p.grad().toDoubleArray());
                p.zeroGrad();
            }
            double worst = 0;
            int checked = 0;
            int index = 0;
            for (Tensor p : c.trainableTensors()) {
                double[] analytic = analytics.get(index++);
                double[] w = p.toDoubleArray();
                for (int j = 0; j < w.length; j++) {
                    double saved = w[j];
                    w[j] = saved + 1e-6;
                    p.backend().memory().write(p, w);
                    double plus = referencePenalty(c, x, n, f);
                    w[j] = saved - 1e-6;
                    p.backend().memory().write(p, w);
                    double minus = referencePenalty(c, x, n, f);
                    w[j] = saved;
                    p.backend().memory().write(p, w);
                    double numeric = (plus - minus) / 2e-6;
                    double err = Math.abs(analytic[j] - numeric) / (1 + Math.abs(numeric));
                    assertFalse(Double.isNaN(err));
                    worst = Math.max(worst, err);
                    checked++;
                }
            }
            assertTrue(checked > 80, "checked " + checked + " weights");
            assertTrue(worst < 1e-6, "worst scaled error " + worst);
        }
    }

    @Test
    void interpolatedPenaltyIsDeterministicAndPositive() {
        try (Sequential c = critic(4); Scope s = Scope.open()) {
            Tensor real = dev.soma.ops.Creation.randn(1, DType.F64, Device.cpu(), 6, 4);
            Tensor fake = dev.soma.ops.Creation.randn(2, DType.F64, Device.cpu(), 6, 4);
            double a = GradientPenalty.penalty(c, real, fake, 5).item();
            double b = GradientPenalty.penalty(c, real, fake, 5).item();
            assertEquals(a, b, 0.0);
            assertTrue(a > 0);
        }
    }

    @Test
    void unsupportedCriticLayersSaySo() {
        try (Sequential c = new Sequential(new Dense(4, "relu"), new Dropout(0.5), new Dense(1)); Scope s = Scope.open()) {
            Tensor x = Tensor.randn(1, 3, 2);
            UnsupportedOperationException e = assertThrows(UnsupportedOperationException.class,
                    () -> GradientPenalty.inputGradient(c, x));
            assertTrue(e.getMessage().contains("dropout"), e.getMessage());
        }
        try (Sequential c = new Sequential(new Dense(4, "gelu"), new Dense(1)); Scope s = Scope.open()) {
            UnsupportedOperationException e = assertThrows(UnsupportedOperationException.class,
                    () -> GradientPenalty.inputGradient(c, Tensor.randn(1, 3, 2)));
            assertTrue(e.getMessage().contains("gelu"), e.getMessage());
        }
    }
}
