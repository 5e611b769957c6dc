package dev.soma.text;

import java.util.HashSet;
import java.util.Locale;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * How much of a generated text is real words: the fraction of its words (runs of letters and apostrophes,
 * compared in lower case) that occur in a reference text. A model that only learned character frequencies
 * scores near zero on anything but one-letter words; fluent samples score near one.
 */
public final class KnownWords {
    private static final Pattern WORD = Pattern.compile("[A-Za-z']+");
    private final Set<String> words = new HashSet<>();

    public KnownWords(String reference) {
        Matcher m = WORD.matcher(reference);
        while (m.find()) words.add(m.group().toLowerCase(Locale.ROOT));
    }

    public int size() {
        return words.size();
    }

    /** The fraction of the words of {@code text} found in the reference; 0 for a text without words. */
    public double fractionKnown(String text) {
        Matcher m = WORD.matcher(text);
        int total = 0;
        int known = 0;
        while (m.find()) {
            total++;
            if (words.contains(m.group().toLowerCase(Locale.ROOT))) known++;
        }
        return total == 0 ? 0 : known / (double) total;
    }
}
