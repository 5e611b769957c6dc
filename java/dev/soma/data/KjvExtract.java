package dev.soma.data;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Turns the output of Debian's {@code bible} program ({@code bible -p DIR -d bible.data -l 100000
 * 'gen1:1-rev22:21'}: chapter headings such as "1 Samuel 3", blank lines, and verses as "  12 text") into plain
 * text, one verse a line with its number removed: 31,102 lines for the King James Bible.
 */
final class KjvExtract {
    /** A verse line: indented verse number, one space, the text. Headings start at column 0. */
    private static final Pattern VERSE = Pattern.compile("^ +\\d+ (.*)$");

    private KjvExtract() {}

    /** The verse text of one line of the program's output, or null for headings and blank lines. */
    static String verseText(String line) {
        Matcher m = VERSE.matcher(line);
        if (!m.matches()) return null;
        String text = m.group(1).strip();
        return text.isEmpty() ? null : text;
    }

    /** Writes every verse of {@code programOutput} to {@code target}, each followed by a newline; returns the count. */
    static int writeVerses(Path programOutput, Path target) throws IOException {
        int verses = 0;
        try (BufferedReader in = Files.newBufferedReader(programOutput, StandardCharsets.UTF_8);
             Writer out = Files.newBufferedWriter(target, StandardCharsets.UTF_8)) {
            for (String line; (line = in.readLine()) != null; ) {
                String verse = verseText(line);
                if (verse == null) continue;
                out.write(verse);
                out.write('\n');
                verses++;
            }
        }
        return verses;
    }
}
