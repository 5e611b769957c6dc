package dev.soma.util;

import java.io.Console;
import java.io.PrintStream;
import java.lang.reflect.Method;
import java.util.Locale;
import java.util.Map;
import java.util.function.LongSupplier;

/**
 * Keras-style training progress. On a terminal ({@link Mode#BAR}) each epoch prints {@code Epoch 1/3}, then one
 * line redrawn in place:
 * <pre>
 *  57/1875 [>.............................] - ETA: 30s - loss: 0.8123 - accuracy: 0.7012
 * </pre>
 * and finishes as {@code 1875/1875 [==============================] - 15s 8ms/step - loss: ... - val_loss: ...}.
 * Elsewhere (logs, CI, pipes: {@link Mode#SUMMARY}) it prints one line per epoch and nothing in between.
 *
 * <p>Written here rather than with me.tongfei:progressbar: that library redraws from its own timer thread,
 * probes the terminal through JLine and has its own layout ("name 50% |### | 5/10 (0:00:02 / 0:00:02)"), so
 * Keras's step counter, ETA, per-step time and trailing metrics would all be fought for; this renderer is small,
 * single-threaded, and its output is testable with a fake clock.
 */
public final class Progress {
    /** How much to print. */
    public enum Mode {
        /** BAR on a terminal, SUMMARY otherwise. */
        AUTO,
        /** An in-place bar per epoch, then the epoch's summary line. */
        BAR,
        /** One line per epoch. */
        SUMMARY,
        /** Nothing. */
        SILENT
    }

    static final int BAR_WIDTH = 30;
    /** Redraws closer together than this are skipped (the last step always draws). */
    static final long MIN_REDRAW_NANOS = 50_000_000L;

    private final PrintStream out;
    private final Mode mode;
    private final int epochs;
    private final int steps;
    private final LongSupplier clock;
    private int epoch;
    private int step;
    private long epochStart;
    private long lastDraw;
    private int lastLength;

    Progress(PrintStream out, Mode mode, int epochs, int stepsPerEpoch, LongSupplier nanoClock) {
        if (epochs < 1 || stepsPerEpoch < 1) {
            throw new IllegalArgumentException("Progress: epochs (" + epochs + ") and steps per epoch (" + stepsPerEpoch
                    + ") must be positive");
        }
        this.out = out;
        this.mode = mode == Mode.AUTO ? (isTerminal() ? Mode.BAR : Mode.SUMMARY) : mode;
        this.epochs = epochs;
        this.steps = stepsPerEpoch;
        this.clock = nanoClock;
    }

    /** Progress on standard output. */
    public static Progress create(int epochs, int stepsPerEpoch, Mode mode) {
        return new Progress(System.out, mode, epochs, stepsPerEpoch, System::nanoTime);
    }

    /** The mode in effect (AUTO resolved). */
    public Mode mode() {
        return mode;
    }

    /** Starts epoch {@code e} (1-based). */
    public void beginEpoch(int e) {
        if (e < 1 || e > epochs) throw new IllegalArgumentException("Progress: epoch " + e + " is outside 1.." + epochs);
        epoch = e;
        step = 0;
        epochStart = clock.getAsLong();
        lastDraw = Long.MIN_VALUE;
        lastLength = 0;
        if (mode == Mode.BAR) {
            out.println("Epoch " + e + "/" + epochs);
            out.flush();
        }
    }

    /** Step {@code s} (1-based) of the current epoch is done; {@code metrics} are running averages. */
    public void step(int s, Map<String, Double> metrics) {
        if (epoch == 0) throw new IllegalStateException("Progress: step(" + s + ") before beginEpoch");
        if (s < 1 || s > steps) throw new IllegalArgumentException("Progress: step " + s + " is outside 1.." + steps);
        step = s;
        if (mode != Mode.BAR) return;
        long now = clock.getAsLong();
        if (s < steps && lastDraw != Long.MIN_VALUE && now - lastDraw < MIN_REDRAW_NANOS) return;
        lastDraw = now;
        double elapsed = (now - epochStart) / 1e9;
        double eta = elapsed / s * (steps - s);
        draw(counter(s) + " [" + bar(s, steps) + "] - ETA: " + eta(eta) + metricText(metrics));
    }

    /** Ends the epoch; {@code metrics} are the epoch's final values, validation ones included ({@code val_} names). */
    public void endEpoch(Map<String, Double> metrics) {
        if (epoch == 0) throw new IllegalStateException("Progress: endEpoch before beginEpoch");
        double elapsed = (clock.getAsLong() - epochStart) / 1e9;
        String timing = String.format(Locale.ROOT, "%.0fs %s", elapsed, perStep(elapsed / Math.max(step, 1)));
        switch (mode) {
            case BAR -> {
                draw(counter(steps) + " [" + bar(steps, steps) + "] - " + timing + metricText(metrics));
                out.println();
            }
            case SUMMARY -> out.println("Epoch " + epoch + "/" + epochs + " - " + timing + metricText(metrics));
            default -> { }
        }
        out.flush();
        epoch = 0;
    }

    private void draw(String line) {
        // Pad over the previous line's tail: in-place redraws must not leave stale characters.
        int pad = Math.max(0, lastLength - line.length());
        out.print("\r" + line + " ".repeat(pad));
        out.flush();
        lastLength = line.length();
    }

    private String counter(int s) {
        int digits = Integer.toString(steps).length();
        return String.format(Locale.ROOT, "%" + digits + "d/%d", s, steps);
    }

    /** Keras's bar: '=' for done steps, '>' at the head, '.' for the rest. */
    static String bar(int s, int total) {
        int done = (int) ((long) BAR_WIDTH * s / total);
        StringBuilder b = new StringBuilder(BAR_WIDTH);
        if (done > 0) {
            b.append("=".repeat(done - 1)).append(s < total ? '>' : '=');
        }
        b.append(".".repeat(BAR_WIDTH - done));
        return b.toString();
    }

    static String eta(double seconds) {
        long t = Math.round(seconds);
        if (t >= 3600) return String.format(Locale.ROOT, "%d:%02d:%02d", t / 3600, (t % 3600) / 60, t % 60);
        if (t >= 60) return String.format(Locale.ROOT, "%d:%02d", t / 60, t % 60);
        return t + "s";
    }

    static String perStep(double seconds) {
        if (seconds >= 1) return String.format(Locale.ROOT, "%.0fs/step", seconds);
        if (seconds >= 1e-3) return String.format(Locale.ROOT, "%.0fms/step", seconds * 1e3);
        return String.format(Locale.ROOT, "%.0fus/step", seconds * 1e6);
    }

    static String metricText(Map<String, Double> metrics) {
        StringBuilder b = new StringBuilder();
        for (Map.Entry<String, Double> m : metrics.entrySet()) {
            double v = m.getValue();
            String num = v != 0 && Math.abs(v) < 1e-3 ? String.format(Locale.ROOT, "%.4e", v)
                    : String.format(Locale.ROOT, "%.4f", v);
            b.append(" - ").append(m.getKey()).append(": ").append(num);
        }
        return b.toString();
    }

    /** A real terminal: System.console() exists and, from Java 22 on, also says it is a terminal. */
    static boolean isTerminal() {
        Console c = System.console();
        if (c == null) return false;
        try {
            Method m = Console.class.getMethod("isTerminal");
            return (Boolean) m.invoke(c);
        } catch (ReflectiveOperationException e) {
            return true; // before Java 22 a console is only returned for a terminal
        }
    }
}
