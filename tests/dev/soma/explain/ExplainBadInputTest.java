package dev.soma.explain;

import dev.soma.errors.ShapeException;
import dev.soma.errors.SomaException;
import dev.soma.model.Sequential;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import static org.junit.jupiter.api.Assertions.*;

/** Wrong output index, wrong shape, unknown method and bad settings fail with messages that say what was expected. */
@ExtendWith(NoLeaks.class)
class ExplainBadInputTest {
    @Test
    void outputIndexOutsideTheModel() {
        try (Sequential m = PatchTask.model(1)) {
            float[] x = new float[144];
            SomaException e = assertThrows(SomaException.class,
                    () -> new Saliency().attribute(Target.output(m, 2), x, PatchTask.SHAPE));
            assertTrue(e.getMessage().contains("output index 2 is outside the model's 2 output units"), e.getMessage());
            assertThrows(SomaException.class, () -> new IntegratedGradients().attribute(Target.logit(m, -1), x, PatchTask.SHAPE));
        }
    }

    @Test
    void exampleOfTheWrongShape() {
        try (Sequential m = PatchTask.model(1)) {
            ShapeException e = assertThrows(ShapeException.class,
                    () -> new Occlusion().attribute(Target.output(m, 1), new float[100], new long[] {10, 10, 1}));
            assertTrue(e.getMessage().contains("expects examples of shape [12, 12, 1]"), e.getMessage());
            ShapeException n = assertThrows(ShapeException.class,
                    () -> new Saliency().attribute(Target.output(m, 1), new float[143], PatchTask.SHAPE));
            assertTrue(n.getMessage().contains("143 values do not fill the example shape [12, 12, 1]"), n.getMessage());
            assertThrows(ShapeException.class, () -> new IntegratedGradients().baseline(Baseline.of(new float[5]))
                    .attribute(Target.output(m, 1), new float[144], PatchTask.SHAPE));
        }
    }

    /** NaN in, NaN attributions out everywhere, silently: refused naming the element (ExplainFuzzTest found it). */
    @Test
    void nonFiniteExamplesBaselinesAndFillsAreRefused() {
        try (Sequential m = PatchTask.model(1)) {
            float[] x = new float[144];
            x[37] = Float.NaN;
            for (String name : Methods.expand("all")) {
                AttributionMethod method = Methods.byName(name);
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                        () -> method.attribute(Target.output(m, 1), x, PatchTask.SHAPE), method.name());
                assertEquals(method.name() + ": the example holds NaN at element 37 (flat index); attributions need finite values",
                        e.getMessage());
            }
            float[] b = new float[144];
            b[5] = Float.NEGATIVE_INFINITY;
            IllegalArgumentException base = assertThrows(IllegalArgumentException.class, () -> new IntegratedGradients()
                    .baseline(Baseline.of(b)).attribute(Target.output(m, 1), new float[144], PatchTask.SHAPE));
            assertTrue(base.getMessage().startsWith("ig: the baseline holds -Infinity at element 5"), base.getMessage());
        }
        assertThrows(IllegalArgumentException.class, () -> new Occlusion().baseline(Double.NaN));
        assertThrows(IllegalArgumentException.class, () -> Baseline.constant(Double.POSITIVE_INFINITY));
        assertThrows(IllegalArgumentException.class, () -> Baseline.uniform(Double.NEGATIVE_INFINITY, 1, 3));
    }

    @Test
    void unknownMethodsAndBadSettings() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Methods.byName("lime"));
        assertEquals("unknown attribution method 'lime': expected one of saliency, gxi, ig, smoothgrad, occlusion or all",
                e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Methods.expand("everything"));
        assertEquals(5, Methods.expand("all").size());
        assertThrows(IllegalArgumentException.class, () -> new IntegratedGradients().steps(0));
        assertThrows(IllegalArgumentException.class, () -> IntegrationRule.RIEMANN_TRAPEZOID.pointsAndWeights(1));
        assertThrows(IllegalArgumentException.class, () -> IntegrationRule.parse("simpson"));
        assertThrows(IllegalArgumentException.class, () -> new SmoothGrad().samples(0));
        assertThrows(IllegalArgumentException.class, () -> new SmoothGrad().noise(-1));
        assertThrows(IllegalArgumentException.class, () -> new Occlusion().window(0, 2));
        try (Sequential m = PatchTask.model(1)) {
            IllegalArgumentException big = assertThrows(IllegalArgumentException.class,
                    () -> new Occlusion().window(13, 13).stride(1, 1).attribute(Target.output(m, 0), new float[144], PatchTask.SHAPE));
            assertTrue(big.getMessage().contains("larger than the example"), big.getMessage());
            IllegalArgumentException notText = assertThrows(IllegalArgumentException.class,
                    () -> TokenAttribution.attribute(m, new int[] {1, 2}, 0, true, new Saliency()));
            assertTrue(notText.getMessage().contains("first layer must be an Embedding"), notText.getMessage());
            assertThrows(IllegalArgumentException.class, () -> AttentionScores.of(m, new float[144], PatchTask.SHAPE, 0));
        }
    }
}
