package dev.soma.text;

import dev.soma.model.Checkpoint;
import dev.soma.model.Sequential;
import dev.soma.nn.Layer;
import dev.soma.testing.NoLeaks;
import dev.soma.zoo.LanguageModels;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

@ExtendWith(NoLeaks.class)
class TextSamplerTest {
    @Test
    void drawFollowsTheTemperedDistribution() {
        double[] p = {0.1, 0.2, 0.7};
        SplittableRandom r = new SplittableRandom(5);
        int n = 60_000;
        int[] counts = new int[3];
        for (int i = 0; i < n; i++) counts[TextSampler.draw(p, 1.0, r)]++;
        for (int i = 0; i < 3; i++) assertEquals(p[i], counts[i] / (double) n, 0.01, "temperature 1, index " + i);
        // Temperature 0.5 squares the probabilities: 0.01 : 0.04 : 0.49.
        counts = new int[3];
        for (int i = 0; i < n; i++) counts[TextSampler.draw(p, 0.5, r)]++;
        assertEquals(0.49 / 0.54, counts[2] / (double) n, 0.01);
        assertEquals(0.01 / 0.54, counts[0] / (double) n, 0.005);
        // A tiny temperature is greedy; a zero probability is never drawn.
        for (int i = 0; i < 1000; i++) assertEquals(2, TextSampler.draw(p, 1e-3, r));
        for (int i = 0; i < 1000; i++) assertNotEquals(0, TextSampler.draw(new double[] {0, 1e-30, 1e-30}, 1.0, r));
        assertThrows(dev.soma.errors.SomaException.class, () -> TextSampler.draw(new double[] {0, Double.NaN}, 1.0, r));
    }

    @Test
    void generationIsSeededAndStartsFromAnyPromptLength(@TempDir Path dir) throws Exception {
        CharVocabulary v = CharVocabulary.of("abc \n");
        for (String arch : LanguageModels.charNames()) {
            try (Sequential m = LanguageModels.character(arch, v.size(), 8)) {
                m.seed(3).build(Layer.VARIABLE);
                TextSampler s = new TextSampler(m, v, 8);
                String a = s.generate("ab", 20, 1.0, 7);
                assertEquals(22, a.length(), arch);
                assertTrue(a.startsWith("ab"), arch);
                for (char c : a.toCharArray()) assertTrue(v.contains(c), arch + ": " + a);
                assertEquals(a, s.generate("ab", 20, 1.0, 7), arch + ": same seed, same text");
                assertNotEquals(a, s.generate("ab", 20, 1.0, 8), arch + ": another seed, another text");
                // Prompts longer than the context are cut to their last 8 characters.
                assertEquals(40, s.generate("abcabcabcabc abc abc abc", 16, 0.8, 1).length());
                assertThrows(IllegalArgumentException.class, () -> s.generate("", 5, 1.0, 1));
                assertThrows(IllegalArgumentException.class, () -> s.generate("a", 5, -0.5, 1));
                assertThrows(IllegalArgumentException.class, () -> s.generate("a", 5, Double.POSITIVE_INFINITY, 1));
                assertThrows(IllegalArgumentException.class, () -> s.generate("a", 5, Double.NaN, 1));
                assertThrows(dev.soma.errors.SomaException.class, () -> s.generate("xyz", 5, 1.0, 1));
                // A saved and reloaded model keeps its variable length and samples the same text.
                Path f = dir.resolve(arch + ".safetensors");
                Checkpoint.save(m, f);
                try (Sequential back = Checkpoint.load(f)) {
                    assertEquals(a, new TextSampler(back, v, 8).generate("ab", 20, 1.0, 7), arch);
                }
            }
        }
    }

    @Test
    void temperatureZeroIsGreedy() {
        CharVocabulary v = CharVocabulary.of("abc \n");
        try (Sequential m = LanguageModels.charLstm(v.size(), 8, 8)) {
            m.seed(4).build(Layer.VARIABLE);
            TextSampler s = new TextSampler(m, v, 8);
            String greedy = s.generate("ab", 12, 0.0, 1);
            assertEquals(greedy, s.generate("ab", 12, 0.0, 99), "the seed does not matter at temperature 0");
            // Every generated character is the model's most likely one after the text before it.
            int[] ids = v.encode(greedy);
            for (int n = 2; n < ids.length; n++) {
                double[] p = s.nextCharacterProbabilities(ids, n);
                int best = 0;
                for (int i = 1; i < p.length; i++) if (p[i] > p[best]) best = i;
                assertEquals(best, ids[n], "position " + n + " of " + greedy);
            }
        }
        assertEquals(1, TextSampler.mostLikely(new double[] {0.2, 0.5, 0.3}));
        assertEquals(0, TextSampler.mostLikely(new double[] {0.5, 0.5, 0.0}), "ties: the lowest id");
        assertThrows(dev.soma.errors.SomaException.class, () -> TextSampler.mostLikely(new double[] {0.5, Double.NaN}));
    }

    @Test
    void variableLengthModelsTakeAnyNumberOfSteps() {
        try (Sequential m = LanguageModels.charLstm(6, 4, 8)) {
            m.build(Layer.VARIABLE);
            assertTrue(m.summary().contains("(None, None, 8)"), m.summary());
            for (int t : new int[] {1, 3, 17}) {
                try (dev.soma.memory.Scope s = dev.soma.memory.Scope.open()) {
                    assertArrayEquals(new long[] {2, t, 6}, m.call(dev.soma.tensor.Tensor.ofInts(new int[2 * t], 2, t)).shape());
                }
            }
        }
        try (Sequential m = LanguageModels.charTransformer(6, 4, 8, 2, 16, 1, 0.0)) {
            m.build(Layer.VARIABLE);
            try (dev.soma.memory.Scope s = dev.soma.memory.Scope.open()) {
                assertArrayEquals(new long[] {1, 3, 6}, m.call(dev.soma.tensor.Tensor.ofInts(new int[3], 1, 3)).shape());
                dev.soma.errors.ShapeException e = assertThrows(dev.soma.errors.ShapeException.class,
                        () -> m.call(dev.soma.tensor.Tensor.ofInts(new int[5], 1, 5)));
                assertTrue(e.getMessage().contains("exceed the 4 positions"), e.getMessage());
            }
        }
    }

    @Test
    void theTransformerCharacterModelIsCausal() {
        // Changing characters after position 5 must not change the distributions at positions 0..5.
        try (Sequential m = LanguageModels.charTransformer(7, 12, 8, 2, 16, 2, 0.0);
             dev.soma.memory.Scope s = dev.soma.memory.Scope.open()) {
            m.seed(9).build(Layer.VARIABLE);
            int[] a = {1, 2, 3, 4, 5, 6, 0, 1, 2, 3};
            int[] b = {1, 2, 3, 4, 5, 6, 6, 6, 6, 6};
            float[] pa = m.call(dev.soma.tensor.Tensor.ofInts(a, 1, 10)).toFloatArray();
            float[] pb = m.call(dev.soma.tensor.Tensor.ofInts(b, 1, 10)).toFloatArray();
            for (int i = 0; i < 6 * 7; i++) assertEquals(pa[i], pb[i], 1e-6f, "position " + i / 7);
            boolean later = false;
            for (int i = 6 * 7; i < pa.length; i++) later |= Math.abs(pa[i] - pb[i]) > 1e-4;
            assertTrue(later, "later positions see the changed characters");
        }
    }
}
