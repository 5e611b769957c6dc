package dev.soma.text;

import dev.soma.autograd.GradMode;
import dev.soma.errors.SomaException;
import dev.soma.memory.Scope;
import dev.soma.model.Model;
import dev.soma.tensor.Tensor;

import java.util.SplittableRandom;

/**
 * Samples text from a character-level language model whose output is next-character probabilities
 * {@code [batch, steps, characters]}. Each new character is drawn from the distribution at the last position of
 * the most recent {@code context} characters, sharpened or flattened by the temperature: p_i^(1/T), renormalised.
 * The model sees windows of the length it was trained on, starting from a zero state, exactly as in training.
 */
public final class TextSampler {
    private final Model model;
    private final CharVocabulary vocabulary;
    private final int context;

    public TextSampler(Model model, CharVocabulary vocabulary, int context) {
        if (context < 1) throw new IllegalArgumentException("TextSampler: context must be >= 1, got " + context);
        this.model = model;
        this.vocabulary = vocabulary;
        this.context = context;
    }

    /**
     * The prompt followed by {@code length} sampled characters. The same model, prompt, temperature and seed
     * always give the same text.
     */
    public String generate(String prompt, int length, double temperature, long seed) {
        if (prompt.isEmpty()) throw new IllegalArgumentException("generate: the prompt is empty; give at least one character");
        if (length < 0) throw new IllegalArgumentException("generate: length must be >= 0, got " + length);
        if (!(temperature >= 0) || Double.isInfinite(temperature)) {
            throw new IllegalArgumentException("generate: temperature must be a finite number >= 0 (0: always the most "
                    + "likely character), got " + temperature);
        }
        int[] promptIds = vocabulary.encode(prompt);
        int[] ids = new int[promptIds.length + length];
        System.arraycopy(promptIds, 0, ids, 0, promptIds.length);
        SplittableRandom random = new SplittableRandom(seed);
        for (int n = promptIds.length; n < ids.length; n++) {
            double[] p = nextCharacterProbabilities(ids, n);
            ids[n] = temperature == 0 ? mostLikely(p) : draw(p, temperature, random);
        }
        StringBuilder out = new StringBuilder(prompt);
        for (int n = promptIds.length; n < ids.length; n++) out.append(vocabulary.character(ids[n]));
        return out.toString();
    }

    /** The model's distribution over the character after {@code ids[0..n)} (only the last {@code context} count). */
    double[] nextCharacterProbabilities(int[] ids, int n) {
        int start = Math.max(0, n - context);
        int[] window = java.util.Arrays.copyOfRange(ids, start, n);
        try (Scope s = Scope.open(); GradMode.Guard g = GradMode.disable()) {
            Tensor out = model.call(Tensor.ofInts(window, 1, window.length));
            long[] shape = out.shape();
            if (shape.length != 3 || shape[2] != vocabulary.size()) {
                throw new SomaException("generate: the model outputs " + java.util.Arrays.toString(shape)
                        + ", expected [1, " + window.length + ", " + vocabulary.size() + "] next-character probabilities");
            }
            float[] last = out.select(1, window.length - 1).reshape(-1).toFloatArray();
            double[] p = new double[last.length];
            for (int i = 0; i < p.length; i++) p[i] = last[i];
            return p;
        }
    }

    /** Greedy decoding (temperature 0, the limit of p^(1/T) as T falls to 0): the most likely id, the lowest on ties. */
    static int mostLikely(double[] p) {
        int best = 0;
        for (int i = 0; i < p.length; i++) {
            if (Double.isNaN(p[i])) throw new SomaException("generate: the model gave NaN for character id " + i);
            if (p[i] > p[best]) best = i;
        }
        return best;
    }

    /** One index drawn from p^(1/temperature), renormalised (computed in log space so small p do not vanish early). */
    static int draw(double[] p, double temperature, SplittableRandom random) {
        double[] w = new double[p.length];
        double max = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < p.length; i++) {
            if (Double.isNaN(p[i])) throw new SomaException("generate: the model gave NaN for character id " + i);
            w[i] = p[i] > 0 ? Math.log(p[i]) / temperature : Double.NEGATIVE_INFINITY;
            max = Math.max(max, w[i]);
        }
        if (max == Double.NEGATIVE_INFINITY) throw new SomaException("generate: the model gave every character probability 0");
        double total = 0;
        for (int i = 0; i < w.length; i++) {
            w[i] = Math.exp(w[i] - max);
            total += w[i];
        }
        double u = random.nextDouble() * total;
        for (int i = 0; i < w.length; i++) {
            u -= w[i];
            if (u < 0) return i;
        }
        for (int i = w.length - 1; ; i--) if (w[i] > 0) return i;
    }
}
