package dev.soma.text;

import dev.soma.data.DatasetFetcher;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.function.Consumer;

/**
 * The King James Bible for character-level language models: the 31,102 verses (one a line) that the fetch step
 * extracts from Debian's bible-kjv packages, split into training and validation text by blocks of verses:
 * every {@value #VALIDATION_EVERY}th block of {@value #BLOCK_VERSES} consecutive verses is held out, so the
 * validation text is spread over the whole book (5%) and never shares a passage with the training text.
 */
public final class Kjv {
    public static final int BLOCK_VERSES = 100;
    public static final int VALIDATION_EVERY = 20;

    /** Training and validation text, each verse followed by a newline. */
    public record Corpus(String train, String validation) {}

    private Kjv() {}

    /** Fetches the text when needed (checked by SHA-256) into {@code dataRoot/kjv} and splits it. */
    public static Corpus load(Path dataRoot, Consumer<String> log) throws IOException {
        Path folder = DatasetFetcher.fetch(DatasetFetcher.Known.KJV, dataRoot, log);
        return split(Files.readAllLines(folder.resolve("kjv.txt"), StandardCharsets.UTF_8));
    }

    /** The fixed block split of a list of verses. */
    public static Corpus split(List<String> verses) {
        StringBuilder train = new StringBuilder();
        StringBuilder validation = new StringBuilder();
        for (int i = 0; i < verses.size(); i++) {
            boolean held = (i / BLOCK_VERSES) % VALIDATION_EVERY == VALIDATION_EVERY - 1;
            (held ? validation : train).append(verses.get(i)).append('\n');
        }
        return new Corpus(train.toString(), validation.toString());
    }
}
