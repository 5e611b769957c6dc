package dev.soma.model;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Map;

/**
 * Appends one CSV row per epoch (epoch, then every logged value) to a file, with a header row first. Epochs are
 * numbered from 1, as the console prints them.
 */
public final class CsvLogger implements Callback {
    private final Path file;
    private boolean headerWritten;

    public CsvLogger(Path file) {
        this.file = file;
    }

    @Override
    public void onTrainBegin(Model model) {
        headerWritten = false;
    }

    @Override
    public void onEpochEnd(Model model, int epoch, Map<String, Double> logs) {
        StringBuilder b = new StringBuilder();
        if (!headerWritten) {
            b.append("epoch");
            for (String k : logs.keySet()) b.append(',').append(k);
            b.append('\n');
        }
        b.append(epoch + 1); // 1-based, as the console's "Epoch 1/3" (fit's epoch index starts at 0)
        for (double v : logs.values()) b.append(',').append(v);
        b.append('\n');
        try {
            if (file.getParent() != null) Files.createDirectories(file.getParent());
            Files.writeString(file, b, StandardCharsets.UTF_8, headerWritten
                    ? new StandardOpenOption[] {StandardOpenOption.APPEND}
                    : new StandardOpenOption[] {StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING,
                            StandardOpenOption.WRITE});
        } catch (IOException e) {
            throw new UncheckedIOException("CsvLogger: cannot write " + file, e);
        }
        headerWritten = true;
    }
}
