package dev.soma.model;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
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
        // A resumed fit continues the model's history: the file is rewritten with the epochs already trained, so
        // it matches the checkpoint even when the interrupted run logged an epoch after the checkpoint was written.
        History h = model.history();
        if (h.epochs() > 0) {
            StringBuilder b = new StringBuilder("epoch");
            for (String k : h.all().keySet()) b.append(',').append(k);
            b.append('\n');
            for (int e = 0; e < h.epochs(); e++) {
                b.append(e + 1); // 1-based, as onEpochEnd writes them
                for (List<Double> v : h.all().values()) b.append(',').append(e < v.size() ? v.get(e) : Double.NaN);
                b.append('\n');
            }
            write(b, false);
            headerWritten = true;
        }
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
        write(b, headerWritten);
        headerWritten = true;
    }

    private void write(CharSequence text, boolean append) {
        if (!dev.soma.distributed.Mpi.writesOutputs()) return; // data-parallel: only rank 0 writes
        try {
            if (file.getParent() != null) Files.createDirectories(file.getParent());
            Files.writeString(file, text, StandardCharsets.UTF_8, append
                    ? new StandardOpenOption[] {StandardOpenOption.APPEND}
                    : new StandardOpenOption[] {StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING,
                            StandardOpenOption.WRITE});
        } catch (IOException e) {
            throw new UncheckedIOException("CsvLogger: cannot write " + file, e);
        }
    }
}
