package dev.soma.model;

import dev.soma.util.Progress;

import java.util.Map;

/**
 * What {@code fit} prints, by Keras' verbose levels: 0 nothing, 1 a progress bar per epoch (one summary line
 * when output is not a terminal), 2 one line per epoch.
 */
final class TrainingLog {
    private final Progress progress;

    TrainingLog(int verbose, int epochs, int steps) {
        Progress.Mode mode = switch (verbose) {
            case 0 -> Progress.Mode.SILENT;
            case 2 -> Progress.Mode.SUMMARY;
            default -> Progress.Mode.AUTO;
        };
        this.progress = epochs > 0 ? Progress.create(epochs, steps, mode) : null;
    }

    void epochBegin(int epoch) {
        progress.beginEpoch(epoch + 1);
    }

    void batchEnd(int batch, Map<String, Double> logs) {
        progress.step(batch + 1, logs);
    }

    void epochEnd(int epoch, Map<String, Double> logs) {
        progress.endEpoch(logs);
    }
}
