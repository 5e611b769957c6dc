package dev.soma.explain;

import dev.soma.model.Sequential;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/**
 * On a model trained to detect a bright patch: occlusion finds the patch, and (Adebayo et al.'s model-randomisation
 * sanity check) the trained model's attributions share little rank order with those of the same architecture with
 * freshly randomised weights.
 */
@ExtendWith(NoLeaks.class)
class PatchTaskTest {
    static Sequential trained;

    @BeforeAll
    static void train() {
        trained = PatchTask.trained(21);
    }

    @AfterAll
    static void close() {
        trained.close();
    }

    @Test
    void theModelLearnsTheTask() {
        Map<String, Double> r = trained.evaluate(PatchTask.dataset(512, 99), 128);
        assertTrue(r.get("accuracy") > 0.95, "held-out accuracy " + r);
    }

    @Test
    void occlusionMapPeaksInsideThePlantedPatch() {
        SplittableRandom r = new SplittableRandom(42);
        Target t = Target.output(trained, 1);
        for (int k = 0; k < 6; k++) {
            int[] at = {r.nextInt(PatchTask.SIDE - PatchTask.PATCH + 1), r.nextInt(PatchTask.SIDE - PatchTask.PATCH + 1)};
            float[] x = PatchTask.image(r, at);
            Attribution a = new Occlusion().window(3, 3).stride(1, 1).attribute(t, x, PatchTask.SHAPE);
            int best = argmax(a.values());
            assertTrue(PatchTask.inPatch(best, at), "occlusion peak at pixel (" + best / 12 + ", " + best % 12
                    + "), patch at " + at[0] + "," + at[1]);
        }
    }

    @Test
    void attributionsOfARandomisedModelDifferFromTheTrainedOnes() {
        SplittableRandom r = new SplittableRandom(7);
        Map<String, AttributionMethod> methods = new java.util.LinkedHashMap<>();
        methods.put("saliency", new Saliency());
        methods.put("smoothgrad", new SmoothGrad().samples(16));
        methods.put("ig", new IntegratedGradients().steps(32));
        methods.put("gxi", new GradientTimesInput());
        Map<String, double[]> rho = new java.util.LinkedHashMap<>();
        int images = 4;
        try (Sequential random = PatchTask.model(1234)) {
            for (int k = 0; k < images; k++) {
                int[] at = {r.nextInt(10), r.nextInt(10)};
                float[] x = PatchTask.image(r, at);
                for (var e : methods.entrySet()) {
                    float[] a = e.getValue().attribute(Target.output(trained, 1), x, PatchTask.SHAPE).values();
                    float[] b = e.getValue().attribute(Target.output(random, 1), x, PatchTask.SHAPE).values();
                    rho.computeIfAbsent(e.getKey(), n -> new double[images])[k] =
                            RankCorrelation.spearman(RankCorrelation.abs(a), RankCorrelation.abs(b));
                }
            }
        }
        for (var e : rho.entrySet()) {
            double mean = java.util.Arrays.stream(e.getValue()).average().orElseThrow();
            System.out.printf(Locale.ROOT, "model randomisation: Spearman(|trained|, |random|) %s mean %.3f per image %s%n",
                    e.getKey(), mean, java.util.Arrays.toString(e.getValue()));
        }
        for (String m : new String[] {"saliency", "smoothgrad"}) {
            double mean = java.util.Arrays.stream(rho.get(m)).average().orElseThrow();
            assertTrue(mean < 0.3, m + ": rank correlation " + mean + " between trained and randomised model");
        }
    }

    @Test
    void spearmanIsOneForMonotoneMapsAndHandlesTies() {
        assertEquals(1, RankCorrelation.spearman(new float[] {1, 2, 3, 4}, new float[] {10, 20, 30, 400}), 1e-12);
        assertEquals(-1, RankCorrelation.spearman(new float[] {1, 2, 3, 4}, new float[] {4, 3, 2, 1}), 1e-12);
        assertArrayEquals(new double[] {1.5, 1.5, 3}, RankCorrelation.ranks(new float[] {5, 5, 7}), 1e-12);
    }

    static int argmax(float[] v) {
        int best = 0;
        for (int i = 1; i < v.length; i++) if (v[i] > v[best]) best = i;
        return best;
    }
}
