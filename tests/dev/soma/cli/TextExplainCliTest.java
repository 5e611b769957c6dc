package dev.soma.cli;

import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code soma explain} on the run folders of text models: a tiny IMDB LSTM is explained as an HTML page of coloured
 * tokens; a text model with an image dataset typed by hand, and a character language model, are refused in one line.
 * IMDB and the KJV are fetched like every dataset.
 */
@ExtendWith(NoLeaks.class)
class TextExplainCliTest {
    @Test
    void aTextRunIsExplainedTokenByTokenAndWhatCannotBeExplainedIsRefused(@TempDir Path dir) throws Exception {
        Path lstm = dir.resolve("lstm");
        CliRun trained = CliRun.of("train", "lstm", "--limit", "16", "--test-limit", "8", "--max-length", "20",
                "--vocabulary", "50", "--epochs", "1", "--validation-split", "0", "--quiet", "--out", lstm.toString());
        assertEquals(0, trained.exit(), trained.err());

        Path page = dir.resolve("review.html");
        CliRun explained = CliRun.of("explain", "--checkpoint", lstm.toString(), "--index", "2", "--method", "all",
                "--steps", "8", "--samples", "3", "--out", page.toString());
        assertEquals(0, explained.exit(), explained.err());
        String html = Files.readString(page);
        for (String method : new String[] {"saliency", "gxi", "ig", "smoothgrad", "occlusion"}) {
            assertTrue(html.contains("<h2>" + method + "</h2>"), method + " missing from the page");
        }
        // Every token of the 20 kept is one span per method, with its attribution as the title.
        assertEquals(5 * 20, html.split("<span class=\"t\" title=\"", -1).length - 1);
        assertTrue(explained.out().contains("review 2"), explained.out());

        CliRun imageData = CliRun.of("explain", "--checkpoint", lstm.toString(), "--dataset", "mnist",
                "--out", dir.resolve("x.html").toString());
        assertEquals(1, imageData.exit(), imageData.out());
        assertTrue(imageData.err().contains("--dataset imdb, got 'mnist'"), imageData.err());

        Path charlm = dir.resolve("charlm");
        CliRun lm = CliRun.of("train", "charlm", "--limit", "3000", "--context", "20", "--epochs", "1",
                "--validation-split", "0", "--quiet", "--out", charlm.toString());
        assertEquals(0, lm.exit(), lm.err());
        CliRun notAClassifier = CliRun.of("explain", "--checkpoint", charlm.toString(), "--out", dir.resolve("c.html").toString());
        assertEquals(1, notAClassifier.exit(), notAClassifier.out());
        assertTrue(notAClassifier.err().contains("character language model"), notAClassifier.err());
        assertEquals(1, notAClassifier.err().strip().lines().count(), notAClassifier.err());
    }
}
