package dev.soma.cli;

import dev.soma.testing.NoLeaks;
import dev.soma.text.CharModelInfo;
import dev.soma.text.KnownWords;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.*;

/**
 * {@code soma train charlm} on a real slice of the King James Bible (fetched like every dataset) and
 * {@code soma generate} from the checkpoint it writes.
 */
@ExtendWith(NoLeaks.class)
class CharLmCliTest {
    /** {exit code, standard output, standard error}. */
    private static String[] run(String... args) {
        CliRun r = CliRun.of(args);
        return new String[] {Integer.toString(r.exit()), r.out(), r.err()};
    }

    private static double value(String output, String key) {
        Matcher m = Pattern.compile(key + "=([0-9.]+)").matcher(output);
        assertTrue(m.find(), "no " + key + " in:\n" + output);
        return Double.parseDouble(m.group(1));
    }

    @Test
    void lstmLearnsCharactersOfTheKjvAndGeneratesFromItsCheckpoint(@TempDir Path dir) throws Exception {
        // 125 steps on 400,000 characters: the order-0 entropy of the text is 4.36 bits per character.
        String[] r = run("train", "charlm", "--dataset", "kjv", "--limit", "400000", "--epochs", "1",
                "--learning-rate", "0.005", "--lr-schedule", "constant", "--quiet", "--out", dir.toString());
        assertEquals("0", r[0], r[2]);
        double bpc = value(r[1], "val_bits_per_char");
        assertTrue(bpc < 3.3, "validation bits per character " + bpc);
        for (String f : new String[] {"model.safetensors", CharModelInfo.FILE_NAME, "curves.png", "history.csv", "sample.txt"}) {
            assertTrue(Files.isRegularFile(dir.resolve(f)), f);
        }
        String[] g1 = run("generate", "--checkpoint", dir.toString(), "--prompt", "And God said", "--length", "300",
                "--temperature", "0.8", "--seed", "1");
        assertEquals("0", g1[0], g1[2]);
        String text = g1[1].strip();
        assertTrue(text.startsWith("And God said"), text);
        assertEquals(12 + 300, text.length(), text);
        assertEquals(g1[1], run("generate", "--checkpoint", dir.toString(), "--prompt", "And God said", "--length", "300",
                "--temperature", "0.8", "--seed", "1")[1]);
        // Even this short training writes mostly spaced words, a good share of them real; uniform characters would
        // give well under 10% (one- and two-letter words only).
        String corpus = Files.readString(dev.soma.data.DatasetFetcher.defaultDataRoot().resolve("kjv/kjv.txt"));
        double known = new KnownWords(corpus).fractionKnown(text.substring(12));
        assertTrue(known > 0.3, "known words " + known + " in: " + text);

        String[] bad = run("generate", "--checkpoint", dir.toString(), "--prompt", "Æ");
        assertEquals("1", bad[0]);
        assertTrue(bad[2].contains("U+00C6"), bad[2]);
        String[] badTemp = run("generate", "--checkpoint", dir.toString(), "--temperature", "-1");
        assertEquals("1", badTemp[0]);
        assertTrue(badTemp[2].contains("temperature"), badTemp[2]);
        String[] badArch = run("train", "charlm", "--dataset", "kjv", "--arch", "gru", "--out", dir.toString());
        assertEquals("1", badArch[0]);
        assertTrue(badArch[2].contains("lstm"), badArch[2]);
        String[] noInfo = run("generate", "--checkpoint", dir.resolve("missing").toString());
        assertEquals("1", noInfo[0]);
    }

    @Test
    void transformerLearnsCharactersOfTheKjv(@TempDir Path dir) throws Exception {
        // 100 steps of the causal decoder on 320,000 characters (measured 3.42 bits; order-0 entropy 4.36).
        String[] r = run("train", "charlm", "--arch", "transformer", "--dataset", "kjv", "--limit", "320000",
                "--epochs", "1", "--learning-rate", "0.002", "--lr-schedule", "constant", "--quiet", "--out", dir.toString());
        assertEquals("0", r[0], r[2]);
        assertTrue(r[1].contains("transformer_encoder"), r[1]);
        double bpc = value(r[1], "val_bits_per_char");
        assertTrue(bpc < 3.8, "validation bits per character " + bpc);
        String[] g = run("generate", "--checkpoint", dir.toString(), "--prompt", "And", "--length", "150", "--seed", "4");
        assertEquals("0", g[0], g[2]);
        assertEquals(153, g[1].strip().length(), g[1]);
        // A prompt longer than the 100 positions the model has is cut to its last 100 characters.
        String[] longPrompt = run("generate", "--checkpoint", dir.toString(), "--prompt", "And the ".repeat(20), "--length", "5");
        assertEquals("0", longPrompt[0], longPrompt[2]);
    }
}
