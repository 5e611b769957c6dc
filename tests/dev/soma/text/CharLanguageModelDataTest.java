package dev.soma.text;

import dev.soma.data.Batch;
import dev.soma.errors.SomaException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** Character vocabulary, next-character windows, the KJV block split and the model description file. */
class CharLanguageModelDataTest {
    @Test
    void vocabularyIsTheSortedDistinctCharactersAndRoundTrips() {
        CharVocabulary v = CharVocabulary.of("banana bread\n");
        assertEquals("\n abdenr", v.characters());
        assertEquals(8, v.size());
        int[] ids = v.encode("bread");
        assertArrayEquals(new int[] {3, 7, 5, 2, 4}, ids);
        assertEquals("bread", v.decode(ids));
        assertEquals(v.characters(), CharVocabulary.fromCharacters(v.characters()).characters());
        SomaException e = assertThrows(SomaException.class, () -> v.encode("bask"));
        assertTrue(e.getMessage().contains("'s' at position 2"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> CharVocabulary.fromCharacters("ba"));
        assertThrows(IllegalArgumentException.class, () -> CharVocabulary.fromCharacters("aa"));
        assertThrows(IllegalArgumentException.class, () -> CharVocabulary.of(""));
        assertThrows(IndexOutOfBoundsException.class, () -> v.character(8));
    }

    @Test
    void windowsPairEachCharacterWithTheNextOne() {
        int[] ids = new int[23];
        for (int i = 0; i < ids.length; i++) ids[i] = i;
        CharWindows w = CharWindows.of(ids, 5);
        // Windows start at 0, 5, 10, 15; one at 20 would need ids up to 25 for its targets.
        assertEquals(4, w.size());
        Batch b = w.gather(new int[] {3, 0});
        assertArrayEquals(new long[] {2, 5}, b.inputs().get(0).shape());
        assertArrayEquals(new int[] {15, 16, 17, 18, 19, 0, 1, 2, 3, 4}, b.inputs().get(0).ints());
        assertArrayEquals(new int[] {16, 17, 18, 19, 20, 1, 2, 3, 4, 5}, b.targetArrays().get(0).ints());
        assertEquals(19, new CharWindows(ids, 4, 1).size());
        assertThrows(IndexOutOfBoundsException.class, () -> w.gather(new int[] {4}));
        assertThrows(IllegalArgumentException.class, () -> CharWindows.of(new int[5], 5));
        assertThrows(IllegalArgumentException.class, () -> new CharWindows(ids, 0, 1));
        // length + 1 wrapped to the smallest int: the check passed and the count came out negative.
        assertThrows(IllegalArgumentException.class, () -> new CharWindows(ids, Integer.MAX_VALUE, 1));
    }

    @Test
    void kjvSplitHoldsOutEveryTwentiethBlockOfVerses() {
        List<String> verses = new ArrayList<>();
        for (int i = 0; i < 4500; i++) verses.add("v" + i);
        Kjv.Corpus c = Kjv.split(verses);
        String[] held = c.validation().split("\n");
        assertEquals(200, held.length);
        assertEquals("v1900", held[0]);
        assertEquals("v1999", held[99]);
        assertEquals("v3900", held[100]);
        assertEquals(4300, c.train().split("\n").length);
        assertTrue(c.train().startsWith("v0\nv1\n"));
        assertFalse(("\n" + c.train()).contains("\nv1900\n"));
    }

    @Test
    void modelInfoRoundTripsAndRejectsBadFiles(@TempDir Path dir) throws Exception {
        Path f = dir.resolve(CharModelInfo.FILE_NAME);
        new CharModelInfo("lstm", 100, "\n abc").save(f);
        CharModelInfo back = CharModelInfo.load(f);
        assertEquals(new CharModelInfo("lstm", 100, "\n abc"), back);
        assertEquals(5, back.vocabulary().size());
        Files.writeString(f, "{\"arch\": \"lstm\", \"context\": 0, \"characters\": \"ab\"}");
        assertThrows(dev.soma.io.CorruptFileException.class, () -> CharModelInfo.load(f));
        Files.writeString(f, "{\"arch\": \"lstm\", \"context\": 10, \"characters\": \"ba\"}");
        assertThrows(dev.soma.io.CorruptFileException.class, () -> CharModelInfo.load(f));
        Files.writeString(f, "[1, 2");
        assertThrows(dev.soma.io.CorruptFileException.class, () -> CharModelInfo.load(f));
        assertThrows(java.io.FileNotFoundException.class, () -> CharModelInfo.load(dir.resolve("none.json")));
    }
}
