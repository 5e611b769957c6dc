package dev.soma.explain;

import dev.soma.model.Sequential;
import dev.soma.nn.Dense;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/** The gradients the attribution methods are built on agree with central differences of the target's score. */
@ExtendWith(NoLeaks.class)
class GradientCheckTest {
    @Test
    void saliencyMatchesFiniteDifferencesOnASmoothModel() {
        try (Sequential m = new Sequential(new Dense(16, "tanh"), new Dense(4, "softmax"))) {
            m.seed(11);
            m.build(10);
            SplittableRandom r = new SplittableRandom(5);
            float[] x = new float[10];
            for (int i = 0; i < x.length; i++) x[i] = (float) (2 * r.nextDouble() - 1);
            long[] shape = {10};
            for (Target t : new Target[] {Target.output(m, 1), Target.logit(m, 2)}) {
                Attribution s = new Saliency().attribute(t, x, shape);
                double eps = 1e-2;
                for (int i = 0; i < x.length; i++) {
                    float[] plus = x.clone(), minus = x.clone();
                    plus[i] += (float) eps;
                    minus[i] -= (float) eps;
                    float[] f = Gradients.scores(t, concat(plus, minus), shape, 2);
                    double numeric = (f[0] - f[1]) / (2 * eps);
                    assertEquals(numeric, s.values()[i], 2e-3 + 2e-2 * Math.abs(numeric), t.description() + " input " + i);
                }
                assertEquals(Gradients.scores(t, x, shape, 1)[0], s.score(), 1e-6);
            }
        }
    }

    /** A batch is explained example by example: the gradient of example k depends on example k only. */
    @Test
    void batchedGradientsEqualOneAtATime() {
        try (Sequential m = PatchTask.model(3)) {
            Target t = Target.output(m, 1);
            SplittableRandom r = new SplittableRandom(1);
            int n = Gradients.CHUNK + 3; // two chunks
            float[] batch = new float[n * 144];
            for (int i = 0; i < batch.length; i++) batch[i] = (float) r.nextDouble();
            float[] all = Gradients.withGradients(t, batch, PatchTask.SHAPE, n).gradients();
            for (int k : new int[] {0, 17, n - 1}) {
                float[] one = java.util.Arrays.copyOfRange(batch, k * 144, (k + 1) * 144);
                float[] g = new Saliency().attribute(t, one, PatchTask.SHAPE).values();
                for (int i = 0; i < 144; i++) assertEquals(g[i], all[k * 144 + i], 1e-6, "example " + k + " pixel " + i);
            }
            // Attribution leaves no gradient behind on the model's parameters.
            for (var p : m.params()) assertNull(p.value().grad(), p.name());
        }
    }

    /** A functional model with two outputs: each output's units can be explained, with the same guarantees. */
    @Test
    void functionalModelsWithSeveralOutputs() {
        dev.soma.model.Input in = dev.soma.model.Input.of(5);
        dev.soma.model.SymbolicTensor h = in.then(new Dense(8, "tanh"));
        try (dev.soma.model.FunctionalModel m = new dev.soma.model.FunctionalModel(java.util.List.of(in),
                java.util.List.of(h.then(new Dense(3)), h.then(new Dense(2, "sigmoid"))))) {
            m.seed(6);
            m.build();
            float[] x = {0.3f, -0.7f, 1.1f, 0.2f, -0.4f};
            long[] shape = {5};
            Target t = Target.output(m, 1, 1);
            Attribution ig = new IntegratedGradients().steps(64).attribute(t, x, shape);
            assertTrue(ig.relativeDelta() < 1e-3, "relative delta " + ig.relativeDelta());
            Attribution s = new Saliency().attribute(t, x, shape);
            for (int i = 0; i < 5; i++) {
                float[] plus = x.clone(), minus = x.clone();
                plus[i] += 1e-2f;
                minus[i] -= 1e-2f;
                float[] f = Gradients.scores(t, concat(plus, minus), shape, 2);
                assertEquals((f[0] - f[1]) / 2e-2, s.values()[i], 2e-3);
            }
            assertThrows(dev.soma.errors.SomaException.class, () -> Target.output(m, 2, 0));
            assertThrows(dev.soma.errors.SomaException.class, () -> new Saliency().attribute(Target.output(m, 0, 3), x, shape));
            assertThrows(dev.soma.errors.ShapeException.class, () -> new Saliency().attribute(Target.output(m, 0, 0), new float[4], new long[] {4}));
        }
    }

    /** Attribution records its own graph even when the caller has turned recording off. */
    @Test
    void worksUnderGradModeDisabled() {
        try (Sequential m = new Sequential(new Dense(2))) {
            m.seed(1);
            m.build(3);
            float[] x = {1, 2, 3};
            float[] expected = new Saliency().attribute(Target.output(m, 0), x, new long[] {3}).values();
            try (dev.soma.autograd.GradMode.Guard g = dev.soma.autograd.GradMode.disable()) {
                assertArrayEquals(expected, new Saliency().attribute(Target.output(m, 0), x, new long[] {3}).values());
                assertFalse(dev.soma.autograd.GradMode.isEnabled());
            }
        }
    }

    @Test
    void smoothGradIsSeededAndTendsToTheGradientAsNoiseVanishes() {
        try (Sequential m = new Sequential(new Dense(8, "tanh"), new Dense(2))) {
            m.seed(2);
            m.build(6);
            float[] x = {0.1f, -0.3f, 0.7f, 0.2f, -0.9f, 0.4f};
            Target t = Target.output(m, 0);
            Attribution a = new SmoothGrad().samples(8).noise(0.2).seed(5).attribute(t, x, new long[] {6});
            assertArrayEquals(a.values(), new SmoothGrad().samples(8).noise(0.2).seed(5).attribute(t, x, new long[] {6}).values());
            assertFalse(java.util.Arrays.equals(a.values(),
                    new SmoothGrad().samples(8).noise(0.2).seed(6).attribute(t, x, new long[] {6}).values()));
            float[] zero = new SmoothGrad().samples(3).noise(0).attribute(t, x, new long[] {6}).values();
            assertArrayEquals(new Saliency().attribute(t, x, new long[] {6}).values(), zero, 1e-6f);
        }
    }

    private static float[] concat(float[] a, float[] b) {
        float[] out = new float[a.length + b.length];
        System.arraycopy(a, 0, out, 0, a.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }
}
