package dev.soma.text;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** Tokenizer, vocabulary and padding on small hand-made texts. */
class TextPipelineTest {
    @Test
    void tokensAreLowerCaseWordsWithoutPunctuation() {
        assertEquals(List.of("great", "great", "film", "don't", "miss", "it", "10", "10"),
                Tokenizer.words("Great, GREAT film!! Don't miss it... 10/10 'quoted'".replace("'quoted'", "")));
        assertEquals(List.of("it's", "a", "b"), Tokenizer.words("  it's -- a\tb "));
        assertEquals(List.of(), Tokenizer.words("?!..."));
    }

    @Test
    void vocabularyKeepsTheMostFrequentWordsWithReservedIds() {
        Vocabulary v = Vocabulary.build(List.of("b a b c", "c b d"), 4);
        assertEquals(4, v.size());
        assertEquals(List.of("b", "c"), v.words());   // b: 3, c: 2, then a and d (1 each) drop out
        assertArrayEquals(new int[] {2, Vocabulary.OOV, 3, Vocabulary.OOV}, v.encode("B a c zebra"));
        assertEquals("<pad>", v.word(0));
        assertEquals("c", v.word(3));
        // Ties are broken alphabetically, so the ids never depend on hash order.
        assertEquals(List.of("x", "y", "z"), Vocabulary.build(List.of("z y x"), 10).words());
        assertThrows(IllegalArgumentException.class, () -> Vocabulary.build(List.of("a"), 2));
    }

    @Test
    void paddingAndTruncationAtEitherEnd() {
        int[][] s = {{1, 2, 3, 4, 5}, {7}};
        assertArrayEquals(new float[] {3, 4, 5, 0, 0, 7}, Sequences.pad(s, 3, Sequences.Side.PRE, Sequences.Side.PRE));
        assertArrayEquals(new float[] {1, 2, 3, 7, 0, 0}, Sequences.pad(s, 3, Sequences.Side.POST, Sequences.Side.POST));
        assertArrayEquals(new float[] {1, 2, 3, 0, 0, 7}, Sequences.pad(s, 3, Sequences.Side.PRE, Sequences.Side.POST));
        assertThrows(IllegalArgumentException.class, () -> Sequences.pad(s, 0, Sequences.Side.PRE, Sequences.Side.PRE));
    }

    @Test
    void htmlLineBreaksBecomeSpaces() {
        assertEquals("one two", Imdb.clean("one<br />two"));
        assertEquals("a   b", Imdb.clean("a <br /><br />b"));
    }
}
