package dev.soma.model;

import java.util.Map;

/** What {@code fit} prints: nothing (verbose 0), a progress bar (1), or one line per epoch (2). */
final class TrainingLog {
    private final int verbose;
    private final int epochs;
    private final int steps;
    private long epochStart;

    TrainingLog(int verbose, int epochs, int steps) {
        this.verbose = verbose;
        this.epochs = epochs;
        this.steps = steps;
    }

    void epochBegin(int epoch) {
        epochStart = System.nanoTime();
    }

    void batchEnd(int batch, Map<String, Double> logs) {}

    void epochEnd(int epoch, Map<String, Double> logs) {
        if (verbose == 0) return;
        StringBuilder b = new StringBuilder();
        b.append("Epoch ").append(epoch + 1).append('/').append(epochs).append(" - ").append(steps).append(" steps - ");
        b.append(String.format("%.1fs", (System.nanoTime() - epochStart) / 1e9));
        logs.forEach((k, v) -> b.append(String.format(" - %s: %.4f", k, v)));
        System.out.println(b);
    }
}
