package dev.soma.gan;

import dev.soma.memory.Scope;
import dev.soma.model.Model;
import dev.soma.model.Sequential;
import dev.soma.nn.Dense;
import dev.soma.nn.LeakyReLU;
import dev.soma.optim.Adam;
import dev.soma.optim.SGD;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

@ExtendWith(NoLeaks.class)
class GanTrainerTest {
    static Sequential generator() {
        return (Sequential) new Sequential(new Dense(16), new LeakyReLU(0.2), new Dense(3, "tanh")).seed(1);
    }

    static Sequential discriminator() {
        return (Sequential) new Sequential(new Dense(16, "leaky_relu"), new Dense(1, "sigmoid")).seed(2);
    }

    static List<float[]> snapshot(Model m) {
        List<float[]> out = new ArrayList<>();
        for (Tensor t : m.trainableTensors()) out.add(t.toFloatArray());
        return out;
    }

    static boolean same(List<float[]> a, List<float[]> b) {
        for (int i = 0; i < a.size(); i++) {
            float[] x = a.get(i);
            float[] y = b.get(i);
            for (int j = 0; j < x.length; j++) {
                if (Float.floatToRawIntBits(x[j]) != Float.floatToRawIntBits(y[j])) return false;
            }
        }
        return true;
    }

    static void assertNoGrads(Model m, String phase) {
        for (Tensor t : m.trainableTensors()) assertNull(t.grad(), phase + ": " + t.describe() + " holds a gradient");
    }

    @Test
    void eachPhaseLeavesTheOtherModelBitForBitUnchanged() {
        for (GanLoss loss : GanLoss.values()) {
            try (Sequential g = generator(); Sequential d = loss == GanLoss.WASSERSTEIN_GP
                    ? (Sequential) new Sequential(new Dense(16, "leaky_relu"), new Dense(1)).seed(2) : discriminator();
                 GanTrainer gan = new GanTrainer(g, new Adam(1e-2), d, new Adam(1e-2), 4).loss(loss).seed(3);
                 Scope scope = Scope.open()) {
                Tensor real = Tensor.randn(9, 8, 3).tanh();
                gan.trainStep(real); // builds both models and creates optimizer state
                for (int round = 0; round < 3; round++) {
                    List<float[]> g0 = snapshot(g);
                    List<float[]> d0 = snapshot(d);
                    GanTrainer.StepResult r = gan.discriminatorStep(real);
                    assertTrue(Double.isFinite(r.dLoss()), loss + " d loss " + r);
                    assertTrue(same(g0, snapshot(g)), loss + ": the D phase changed G");
                    assertFalse(same(d0, snapshot(d)), loss + ": the D phase did not change D");
                    assertNoGrads(g, loss + " D phase");
                    assertNoGrads(d, loss + " D phase");

                    List<float[]> g1 = snapshot(g);
                    List<float[]> d1 = snapshot(d);
                    r = gan.generatorStep(8);
                    assertTrue(Double.isFinite(r.gLoss()), loss + " g loss " + r);
                    assertTrue(same(d1, snapshot(d)), loss + ": the G phase changed D");
                    assertFalse(same(g1, snapshot(g)), loss + ": the G phase did not change G");
                    assertNoGrads(d, loss + " G phase");
                    assertNoGrads(g, loss + " G phase");
                }
                // D stays trainable after the G phase (its weights require grad again).
                for (Tensor t : d.trainableTensors()) assertTrue(t.requiresGrad());
            }
        }
    }

    @Test
    void oneDiscriminatorPassOverRealAndFakeEqualsTwoPasses() {
        List<float[]> after = new ArrayList<>();
        double[] losses = new double[2];
        for (int run = 0; run < 2; run++) {
            try (Sequential g = generator(); Sequential d = discriminator();
                 // SGD: Adam's first step is lr * sign(gradient), which rounding can flip for a near-zero gradient.
                 GanTrainer gan = new GanTrainer(g, new SGD(0.1), d, new SGD(0.1), 4).seed(5)
                         .discriminatorSinglePass(run == 0);
                 Scope scope = Scope.open()) {
                Tensor real = Tensor.randn(9, 8, 3).tanh();
                losses[run] = gan.discriminatorStep(real).dLoss();
                for (Tensor t : d.trainableTensors()) after.add(t.toFloatArray());
            }
        }
        assertEquals(losses[0], losses[1], 1e-6);
        int half = after.size() / 2;
        for (int i = 0; i < half; i++) {
            float[] a = after.get(i);
            float[] b = after.get(half + i);
            for (int j = 0; j < a.length; j++) assertEquals(b[j], a[j], 1e-6, "D weight " + i + "[" + j + "]");
        }
    }

    @Test
    void optimizersStepOnlyInTheirOwnPhase() {
        Adam gOpt = new Adam(1e-2);
        Adam dOpt = new Adam(1e-2);
        try (Sequential g = generator(); Sequential d = discriminator();
             GanTrainer gan = new GanTrainer(g, gOpt, d, dOpt, 4); Scope scope = Scope.open()) {
            Tensor real = Tensor.randn(9, 8, 3).tanh();
            gan.discriminatorStep(real);
            assertEquals(1, dOpt.iterations());
            assertEquals(0, gOpt.iterations());
            gan.generatorStep(8);
            assertEquals(1, dOpt.iterations());
            assertEquals(1, gOpt.iterations());
            gan.trainStep(real, real, real);  // k = 3
            assertEquals(4, dOpt.iterations());
            assertEquals(2, gOpt.iterations());
        }
    }

    @Test
    void fixedNoiseGivesTheSameSamplesUntilGTrains() {
        try (Sequential g = generator(); Sequential d = discriminator();
             GanTrainer gan = new GanTrainer(g, new Adam(1e-2), d, new Adam(1e-2), 4).fixedNoiseCount(5);
             Scope scope = Scope.open()) {
            float[] a = gan.generate(gan.fixedNoise()).toFloatArray();
            float[] b = gan.generate(gan.fixedNoise()).toFloatArray();
            assertArrayEquals(a, b);
            assertEquals(5 * 3, a.length);
            gan.trainStep(Tensor.randn(9, 8, 3).tanh());
            float[] c = gan.generate(gan.fixedNoise()).toFloatArray();
            assertFalse(java.util.Arrays.equals(a, c), "G trained, its samples of the fixed noise moved");
        }
    }

    @Test
    void labelSmoothingChangesOnlyTheDiscriminatorsRealTarget() {
        try (Scope scope = Scope.open()) {
            Tensor dReal = Tensor.of(new float[] {2f, -1f}, 2, 1);
            Tensor dFake = Tensor.of(new float[] {-3f, 0.5f}, 2, 1);
            double plain = GanLoss.NON_SATURATING.discriminatorLoss(dReal, dFake, true, 1.0).item();
            double smooth = GanLoss.NON_SATURATING.discriminatorLoss(dReal, dFake, true, 0.9).item();
            // By hand: BCE with logits, mean over the batch, real term + fake term.
            double expectPlain = (sp(-2) + sp(1)) / 2 + (sp(-3) + sp(0.5)) / 2;
            double expectSmooth = (0.9 * sp(-2) + 0.1 * sp(2) + 0.9 * sp(1) + 0.1 * sp(-1)) / 2 + (sp(-3) + sp(0.5)) / 2;
            assertEquals(expectPlain, plain, 1e-5);
            assertEquals(expectSmooth, smooth, 1e-5);
            assertEquals(sp(3) / 2 + sp(-0.5) / 2, GanLoss.NON_SATURATING.generatorLoss(dFake, true).item(), 1e-5);
            assertEquals(-(sp(-3) + sp(0.5)) / 2, GanLoss.MINIMAX.generatorLoss(dFake, true).item(), 1e-5);
            assertEquals(0.5 * ((2 - 1) * (2 - 1) + 4) / 2 * 1 + 0.5 * (9 + 0.25) / 2,
                    GanLoss.LEAST_SQUARES.discriminatorLoss(dReal, dFake, false, 1.0).item(), 1e-5);
            assertEquals((-3 + 0.5) / 2.0 - (2 - 1) / 2.0,
                    GanLoss.WASSERSTEIN_GP.discriminatorLoss(dReal, dFake, false, 1.0).item(), 1e-6);
        }
    }

    /** softplus(x) = log(1 + e^x): BCE of logit z against target 1 is softplus(-z), against 0 softplus(z). */
    static double sp(double x) {
        return Math.log1p(Math.exp(x));
    }

    @Test
    void badArgumentsAreRejected() {
        try (Sequential g = generator(); Sequential d = (Sequential) new Sequential(new Dense(1, "tanh"))) {
            Adam a = new Adam(1e-3);
            assertThrows(IllegalArgumentException.class, () -> new GanTrainer(g, a, d, a, 4));
            assertThrows(IllegalArgumentException.class, () -> new GanTrainer(g, new Adam(1e-3), g, new Adam(1e-3), 4));
            try (GanTrainer gan = new GanTrainer(g, new Adam(1e-3), d, new Adam(1e-3), 4); Scope s = Scope.open()) {
                assertThrows(IllegalArgumentException.class, () -> gan.labelSmoothing(0.7));
                assertThrows(IllegalArgumentException.class, () -> gan.discriminatorSteps(0));
                assertThrows(IllegalArgumentException.class, gan::trainStep);
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                        () -> gan.trainStep(Tensor.randn(1, 8, 3)));
                assertTrue(e.getMessage().contains("tanh"), e.getMessage());
            }
        }
        assertThrows(IllegalArgumentException.class, () -> GanLoss.byName("hinge"));
        assertEquals(GanLoss.WASSERSTEIN_GP, GanLoss.byName("wgan-gp"));
    }
}
