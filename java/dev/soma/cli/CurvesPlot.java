package dev.soma.cli;

import dev.soma.util.Plots;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;

/**
 * The training commands' curves.png, drawn after fit has saved the checkpoint. A run whose picture cannot be
 * drawn (no java.desktop module in a trimmed runtime, no fonts on a bare host, an unwritable folder) keeps its
 * checkpoint and still reports its test figures: the console line says the PNG was not written and why.
 */
final class CurvesPlot {
    private CurvesPlot() {}

    /** Writes {@code png}; returns the text for the console's "curves:" field (the path, or why there is none). */
    static String write(Path png, Map<String, double[]> history) {
        try {
            Plots.history(png, history);
            return png.toString();
        } catch (IOException | RuntimeException | LinkageError | java.awt.AWTError e) {
            return "not written (" + e.getClass().getSimpleName() + ": " + e.getMessage() + ")";
        }
    }
}
