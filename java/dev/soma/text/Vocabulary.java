package dev.soma.text;

import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Word ids: 0 is padding, 1 stands for every word outside the vocabulary (OOV), and 2, 3, ... are the most
 * frequent words of the texts it was built from, most frequent first (ties alphabetically, so the same texts
 * always give the same ids). {@link #size()} counts the padding and OOV ids too: an Embedding needs that many rows.
 */
public final class Vocabulary {
    public static final int PAD = 0;
    public static final int OOV = 1;

    private final List<String> words;
    private final Map<String, Integer> ids;

    private Vocabulary(List<String> words) {
        this.words = List.copyOf(words);
        this.ids = new HashMap<>();
        for (int i = 0; i < words.size(); i++) ids.put(words.get(i), i + 2);
    }

    /** The {@code maxSize - 2} most frequent words of {@code texts} (tokenised by {@link Tokenizer}). */
    public static Vocabulary build(List<String> texts, int maxSize) {
        if (maxSize < 3) throw new IllegalArgumentException("Vocabulary: maxSize must be >= 3 (padding, OOV, a word), got " + maxSize);
        Map<String, int[]> counts = new HashMap<>();
        for (String t : texts) for (String w : Tokenizer.words(t)) counts.computeIfAbsent(w, k -> new int[1])[0]++;
        List<Map.Entry<String, int[]>> entries = new ArrayList<>(counts.entrySet());
        entries.sort((a, b) -> a.getValue()[0] != b.getValue()[0] ? Integer.compare(b.getValue()[0], a.getValue()[0])
                : a.getKey().compareTo(b.getKey()));
        List<String> words = new ArrayList<>();
        for (int i = 0; i < Math.min(maxSize - 2, entries.size()); i++) words.add(entries.get(i).getKey());
        return new Vocabulary(words);
    }

    /** From a word list in id order (ids 2, 3, ...), e.g. one saved with a checkpoint. */
    public static Vocabulary of(List<String> words) {
        return new Vocabulary(words);
    }

    /** Ids including padding and OOV. */
    public int size() {
        return words.size() + 2;
    }

    public int id(String word) {
        return ids.getOrDefault(word, OOV);
    }

    /** The word of an id ("<pad>", "<oov>" for the two reserved ids). */
    public String word(int id) {
        if (id == PAD) return "<pad>";
        if (id == OOV) return "<oov>";
        return words.get(id - 2);
    }

    public List<String> words() {
        return Collections.unmodifiableList(words);
    }

    public int[] encode(String text) {
        List<String> ws = Tokenizer.words(text);
        int[] out = new int[ws.size()];
        for (int i = 0; i < out.length; i++) out[i] = id(ws.get(i));
        return out;
    }
}
