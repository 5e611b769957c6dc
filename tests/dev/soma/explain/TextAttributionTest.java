package dev.soma.explain;

import dev.soma.autograd.GradMode;
import dev.soma.memory.Scope;
import dev.soma.model.Sequential;
import dev.soma.nn.Dense;
import dev.soma.nn.Embedding;
import dev.soma.nn.GlobalAveragePooling1D;
import dev.soma.nn.MultiHeadAttention;
import dev.soma.nn.Layer;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import dev.soma.zoo.ReferenceModels;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.Locale;

import static org.junit.jupiter.api.Assertions.*;

/** Token attributions through the embedding output, and attention weights returned on request. */
@ExtendWith(NoLeaks.class)
class TextAttributionTest {
    static final int[] IDS = {0, 0, 0, 5, 9, 2, 14, 7, 3, 11}; // three padding steps, then a "review"

    @Test
    void integratedGradientsPerTokenAreCompleteAndIgnorePadding() {
        for (String name : new String[] {"lstm", "transformer"}) {
            try (Sequential m = ReferenceModels.textClassifier(name, 20, IDS.length)) {
                m.seed(3);
                m.build(IDS.length);
                TokenAttribution.Result r = TokenAttribution.attribute(m, IDS, 0, true, new IntegratedGradients().steps(64));
                Attribution a = r.full();
                assertArrayEquals(new long[] {IDS.length, 64}, a.shape());
                double perTokenSum = 0;
                for (float v : r.perToken()) perTokenSum += v;
                assertEquals(a.sum(), perTokenSum, 1e-4);
                System.out.printf(Locale.ROOT, "IG completeness, %s text model (random weights), logit, 64 steps: delta %.3g, "
                        + "relative %.4f%%%n", name, a.delta(), 100 * a.relativeDelta());
                assertTrue(a.relativeDelta() < 0.01, name + ": relative delta " + a.relativeDelta());
                // Masked padding steps cannot change the output, so they get no attribution.
                for (int i = 0; i < 3; i++) assertEquals(0, r.perToken()[i], 1e-6, name + " padding step " + i);
                assertNotEquals(0, r.perToken()[5], name);
            }
        }
    }

    @Test
    void attentionWeightsAreReturnedOnRequest() {
        try (Sequential m = new Sequential(new Embedding(20, 8, true), new MultiHeadAttention(2, 4),
                new GlobalAveragePooling1D(), new Dense(1, "sigmoid"))) {
            m.seed(5);
            m.build(IDS.length);
            float[] ids = new float[IDS.length];
            for (int i = 0; i < ids.length; i++) ids[i] = IDS[i];
            AttentionScores.Map w = AttentionScores.of(m, ids, new long[] {IDS.length}, 1);
            assertArrayEquals(new long[] {2, IDS.length, IDS.length}, w.shape());
            int t = IDS.length;
            for (int h = 0; h < 2; h++) {
                for (int q = 0; q < t; q++) {
                    double row = 0;
                    for (int k = 0; k < t; k++) {
                        float v = w.weights()[(h * t + q) * t + k];
                        if (k < 3) assertEquals(0, v, 1e-7, "padded key " + k + " must get no weight");
                        row += v;
                    }
                    assertEquals(1, row, 1e-5);
                }
            }
            // The layer's scores path gives the same output as its plain path.
            try (Scope s = Scope.open(); GradMode.Guard g = GradMode.disable()) {
                Tensor x = Tensor.of(ids, 1, t);
                Layer emb = m.layers().get(0);
                Tensor e = emb.apply(x, false);
                Tensor mask = emb.computeMask(x, null);
                MultiHeadAttention mha = (MultiHeadAttention) m.layers().get(1);
                assertArrayEquals(mha.apply(e, mask, false).toFloatArray(), mha.callWithScores(e, mask, false).output().toFloatArray(), 1e-6f);
            }
        }
        try (Sequential tr = ReferenceModels.textClassifier("transformer", 20, IDS.length)) {
            tr.seed(1);
            tr.build(IDS.length);
            float[] ids = new float[IDS.length];
            for (int i = 0; i < ids.length; i++) ids[i] = IDS[i];
            AttentionScores.Map w = AttentionScores.of(tr, ids, new long[] {IDS.length}, 1);
            assertArrayEquals(new long[] {4, IDS.length, IDS.length}, w.shape());
        }
    }

    @Test
    void htmlColoursEveryRealToken() {
        try (Sequential m = ReferenceModels.textClassifier("gru", 20, IDS.length)) {
            m.seed(2);
            m.build(IDS.length);
            TokenAttribution.Result r = TokenAttribution.attribute(m, IDS, 0, false, new Saliency());
            String html = TokenHtml.render("a <test>", java.util.List.of(r), id -> "w" + id, 0);
            assertTrue(html.contains("a &lt;test&gt;"));
            assertEquals(IDS.length - 3, html.split("<span class=\"t\"", -1).length - 1);
            assertTrue(html.contains(">w14</span>"));
        }
    }
}
