package dev.soma.text;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Word tokens as Keras' Tokenizer makes them: lower-cased, punctuation as separators (an apostrophe inside a
 * word is kept: "don't" stays one token), so "Great, GREAT film!" gives [great, great, film].
 */
public final class Tokenizer {
    private Tokenizer() {}

    public static List<String> words(String text) {
        String lower = text.toLowerCase(Locale.ROOT);
        List<String> out = new ArrayList<>();
        int n = lower.length();
        int i = 0;
        while (i < n) {
            while (i < n && !isWordChar(lower, i)) i++;
            int start = i;
            while (i < n && isWordChar(lower, i)) i++;
            if (i > start) out.add(lower.substring(start, i));
        }
        return out;
    }

    /** Letters and digits, and an apostrophe between two letters. */
    private static boolean isWordChar(String s, int i) {
        char c = s.charAt(i);
        if (Character.isLetterOrDigit(c)) return true;
        return c == '\'' && i > 0 && i + 1 < s.length() && Character.isLetter(s.charAt(i - 1))
                && Character.isLetter(s.charAt(i + 1));
    }
}
