package dev.soma.model;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.Map;

/**
 * Writes a {@link Checkpoint} of any model (Sequential, functional, nested) after each epoch, or only when a
 * monitored value improves ({@code saveBestOnly}); files are replaced atomically, so a crash never leaves a torn
 * checkpoint. The checkpoint holds the epoch count and history, so {@link FitOptions#resumeFrom} continues from it.
 */
public final class ModelCheckpoint implements Callback {
    private final Path file;
    private final String monitor;
    private final boolean saveBestOnly;
    private final boolean maximize;
    private double best;

    public ModelCheckpoint(Path file) {
        this(file, "val_loss", false);
    }

    public ModelCheckpoint(Path file, String monitor, boolean saveBestOnly) {
        this.file = file;
        this.monitor = monitor;
        this.saveBestOnly = saveBestOnly;
        this.maximize = monitor.contains("acc");
    }

    @Override
    public void onTrainBegin(Model model) {
        best = maximize ? Double.NEGATIVE_INFINITY : Double.POSITIVE_INFINITY;
        // A resumed fit continues the model's history: the best value so far is in it, so a worse first
        // resumed epoch does not overwrite the best checkpoint.
        for (double v : model.history().get(monitor)) {
            if (maximize ? v > best : v < best) best = v;
        }
    }

    @Override
    public void onEpochEnd(Model model, int epoch, Map<String, Double> logs) {
        if (!dev.soma.distributed.Mpi.writesOutputs()) return; // data-parallel: only rank 0 writes
        if (saveBestOnly) {
            Double v = logs.get(monitor);
            if (v == null) throw new IllegalArgumentException("ModelCheckpoint: '" + monitor + "' is not logged; available: " + logs.keySet());
            if (maximize ? !(v > best) : !(v < best)) return;
            best = v;
        }
        try {
            Checkpoint.save(model, file);
        } catch (IOException e) {
            throw new UncheckedIOException("ModelCheckpoint: cannot write " + file, e);
        }
    }
}
