package dev.soma.text;

import dev.soma.errors.SomaException;

import java.util.Arrays;

/**
 * Character ids for a character-level language model: the distinct characters of a text in code order, so the
 * same text always gives the same ids. There is no padding or unknown id: every window of the corpus is full, and
 * a prompt with a character the model never saw is refused rather than silently changed.
 */
public final class CharVocabulary {
    private final String characters;
    private final int[] idOf;

    private CharVocabulary(String characters) {
        this.characters = characters;
        int max = characters.chars().max().orElse(0);
        this.idOf = new int[max + 1];
        Arrays.fill(idOf, -1);
        for (int i = 0; i < characters.length(); i++) idOf[characters.charAt(i)] = i;
    }

    /** The distinct characters of {@code text}. */
    public static CharVocabulary of(String text) {
        if (text.isEmpty()) throw new IllegalArgumentException("CharVocabulary: the text is empty");
        StringBuilder b = new StringBuilder();
        text.chars().distinct().sorted().forEach(c -> b.append((char) c));
        return new CharVocabulary(b.toString());
    }

    /** A vocabulary saved with {@link #characters()}: distinct characters, in increasing order. */
    public static CharVocabulary fromCharacters(String characters) {
        if (characters.isEmpty()) throw new IllegalArgumentException("CharVocabulary: no characters given");
        for (int i = 1; i < characters.length(); i++) {
            if (characters.charAt(i) <= characters.charAt(i - 1)) {
                throw new IllegalArgumentException("CharVocabulary: characters must be distinct and in increasing order, "
                        + "but position " + i + " holds " + describe(characters.charAt(i)) + " after "
                        + describe(characters.charAt(i - 1)));
            }
        }
        return new CharVocabulary(characters);
    }

    public int size() {
        return characters.length();
    }

    /** The characters in id order. */
    public String characters() {
        return characters;
    }

    public boolean contains(char c) {
        return c < idOf.length && idOf[c] >= 0;
    }

    /** The ids of {@code text}; a character outside the vocabulary is an error naming it and its position. */
    public int[] encode(String text) {
        int[] ids = new int[text.length()];
        for (int i = 0; i < ids.length; i++) {
            char c = text.charAt(i);
            if (!contains(c)) {
                throw new SomaException("CharVocabulary: " + describe(c) + " at position " + i
                        + " is not one of the model's " + size() + " characters");
            }
            ids[i] = idOf[c];
        }
        return ids;
    }

    public char character(int id) {
        if (id < 0 || id >= size()) {
            throw new IndexOutOfBoundsException("CharVocabulary: id " + id + " outside [0, " + size() + ")");
        }
        return characters.charAt(id);
    }

    public String decode(int[] ids) {
        StringBuilder b = new StringBuilder(ids.length);
        for (int id : ids) b.append(character(id));
        return b.toString();
    }

    private static String describe(char c) {
        return c >= 0x20 && c < 0x7f ? "'" + c + "'" : String.format("U+%04X", (int) c);
    }
}
