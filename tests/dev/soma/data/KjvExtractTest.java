package dev.soma.data;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class KjvExtractTest {
    @Test
    void keepsVerseTextAndDropsHeadingsNumbersAndBlankLines() {
        assertEquals("In the beginning God created the heaven and the earth.",
                KjvExtract.verseText("  1 In the beginning God created the heaven and the earth."));
        assertEquals("I understand more than the ancients.", KjvExtract.verseText("  100 I understand more than the ancients."));
        // Chapter headings start at column 0, also those of books whose names begin with a number.
        assertNull(KjvExtract.verseText("Genesis 1"));
        assertNull(KjvExtract.verseText("1 Samuel 3"));
        assertNull(KjvExtract.verseText(""));
        assertNull(KjvExtract.verseText("   "));
        assertNull(KjvExtract.verseText("  7 "));
    }

    @Test
    void writesOneVerseALine(@TempDir Path dir) throws Exception {
        Path raw = dir.resolve("raw.txt");
        Files.write(raw, List.of("", "Genesis 1", "", "  1 In the beginning.", "  2 And the earth.", "", "2 Kings 1", "",
                "  1 Then Moab rebelled."));
        Path out = dir.resolve("kjv.txt");
        assertEquals(3, KjvExtract.writeVerses(raw, out));
        assertEquals("In the beginning.\nAnd the earth.\nThen Moab rebelled.\n", Files.readString(out));
    }
}
