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
    private static CliRun run(String... args) {
        return CliRun.of(args);
    }

    private static double value(String output, String key) {
        Matcher m = Pattern.compile(key + "=([0-9.]+)").matcher(output);
        assertTrue(m.find(), "no " + key + " in:\n" + output);
        return Double.parseDouble(m.group(1));
    }

    @Test
    void lstmLearnsCharactersOfTheKjvAndGeneratesFromItsCheckpoint(@TempDir Path dir) throws Exception {
        // 125 steps on 400,000 characters: the order-0 entropy of the text is 4.36 bits per character.
        CliRun r = run("train", "charlm", "--dataset", "kjv", "--limit", "400000", "--epochs", "1",
                "--learning-rate", "0.005", "--lr-schedule", "constant", "--quiet", "--out", dir.toString());
        assertEquals(0, r.exit(), r.err());
        double bpc = value(r.out(), "val_bits_per_char");
        assertTrue(bpc < 3.3, "validation bits per character " + bpc);
        for (String f : new String[] {"model.safetensors", CharModelInfo.FILE_NAME, "curves.png", "history.csv", "sample.txt"}) {
            assertTrue(Files.isRegularFile(dir.resolve(f)), f);
        }
        CliRun g1 = run("generate", "--checkpoint", dir.toString(), "--prompt", "And God said", "--length", "300",
                "--temperature", "0.8", "--seed", "1");
        assertEquals(0, g1.exit(), g1.err());
        String text = g1.out().strip();
        assertTrue(text.startsWith("And God said"), text);
        assertEquals(12 + 300, text.length(), text);
        assertEquals(g1.out(), run("generate", "--checkpoint", dir.toString(), "--prompt", "And God said", "--length", "300",
                "--temperature", "0.8", "--seed", "1").out());
        // Even this short training writes mostly spaced words, a good share of them real; uniform characters would
        // give well under 10% (one- and two-letter words only).
        String corpus = Files.readString(dev.soma.data.DatasetFetcher.defaultDataRoot().resolve("kjv/kjv.txt"));
        double known = new KnownWords(corpus).fractionKnown(text.substring(12));
        assertTrue(known > 0.3, "known words " + known + " in: " + text);

        CliRun bad = run("generate", "--checkpoint", dir.toString(), "--prompt", "Æ");
        assertEquals(1, bad.exit());
        assertTrue(bad.err().contains("U+00C6"), bad.err());
        CliRun badTemp = run("generate", "--checkpoint", dir.toString(), "--temperature", "-1");
        assertEquals(1, badTemp.exit());
        assertTrue(badTemp.err().contains("temperature"), badTemp.err());
        CliRun badArch = run("train", "charlm", "--dataset", "kjv", "--arch", "gru", "--out", dir.toString());
        assertEquals(1, badArch.exit());
        assertTrue(badArch.err().contains("lstm"), badArch.err());
        CliRun noInfo = run("generate", "--checkpoint", dir.resolve("missing").toString());
        assertEquals(1, noInfo.exit());
    }

    @Test
    void transformerLearnsCharactersOfTheKjv(@TempDir Path dir) throws Exception {
        // 100 steps of the causal decoder on 320,000 characters (measured 3.42 bits; order-0 entropy 4.36).
        CliRun r = run("train", "charlm", "--arch", "transformer", "--dataset", "kjv", "--limit", "320000",
                "--epochs", "1", "--learning-rate", "0.002", "--lr-schedule", "constant", "--quiet", "--out", dir.toString());
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.out().contains("transformer_encoder"), r.out());
        double bpc = value(r.out(), "val_bits_per_char");
        assertTrue(bpc < 3.8, "validation bits per character " + bpc);
        CliRun g = run("generate", "--checkpoint", dir.toString(), "--prompt", "And", "--length", "150", "--seed", "4");
        assertEquals(0, g.exit(), g.err());
        assertEquals(153, g.out().strip().length(), g.out());
        // A prompt longer than the 100 positions the model has is cut to its last 100 characters.
        CliRun longPrompt = run("generate", "--checkpoint", dir.toString(), "--prompt", "And the ".repeat(20), "--length", "5");
        assertEquals(0, longPrompt.exit(), longPrompt.err());
    }
}
