package dev.soma.util;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

class ProgressTest {
    private long now;
    private final ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    private final PrintStream out = new PrintStream(bytes, true, StandardCharsets.UTF_8);

    private String text() {
        return bytes.toString(StandardCharsets.UTF_8);
    }

    private static Map<String, Double> metrics(Object... kv) {
        Map<String, Double> m = new LinkedHashMap<>();
        for (int i = 0; i < kv.length; i += 2) m.put((String) kv[i], ((Number) kv[i + 1]).doubleValue());
        return m;
    }

    private void runEpoch(Progress p, int epoch, int steps, long stepNanos, Map<String, Double> end) {
        p.beginEpoch(epoch);
        for (int s = 1; s <= steps; s++) {
            now += stepNanos;
            p.step(s, metrics("loss", 1.0 / s, "accuracy", 0.5));
        }
        p.endEpoch(end);
    }

    @Test
    void barsLookLikeKeras() {
        assertEquals("..............................", Progress.bar(0, 10));
        assertEquals("==============>...............", Progress.bar(5, 10));
        assertEquals(">.............................", Progress.bar(1, 30));
        assertEquals("==============================", Progress.bar(10, 10));
        assertEquals(Progress.BAR_WIDTH, Progress.bar(1, 1875).length());
        assertEquals("7s", Progress.eta(7.4));
        assertEquals("2:05", Progress.eta(125));
        assertEquals("1:00:01", Progress.eta(3601));
        assertEquals("8ms/step", Progress.perStep(0.008));
        assertEquals("2s/step", Progress.perStep(2.2));
        assertEquals("250us/step", Progress.perStep(0.00025));
        assertEquals(" - loss: 0.1235 - lr: 1.0000e-04", Progress.metricText(metrics("loss", 0.123456, "lr", 1e-4)));
    }

    @Test
    void barModeRedrawsInPlaceAndEndsWithTheKerasSummary() {
        Progress p = new Progress(out, Progress.Mode.BAR, 2, 10, () -> now);
        assertEquals(Progress.Mode.BAR, p.mode());
        runEpoch(p, 1, 10, 100_000_000L, metrics("loss", 0.5, "accuracy", 0.9, "val_loss", 0.6, "val_accuracy", 0.85));
        String t = text();
        assertTrue(t.startsWith("Epoch 1/2\n"), t);
        assertTrue(t.contains("\r 5/10 [==============>...............] - ETA: 1s - loss: 0.2000 - accuracy: 0.5000"), t);
        assertTrue(t.endsWith("\r10/10 [==============================] - 1s 100ms/step - loss: 0.5000 - accuracy: 0.9000"
                + " - val_loss: 0.6000 - val_accuracy: 0.8500\n"), t);
        assertEquals(1, t.chars().filter(c -> c == '\n').count() - 1, "only 'Epoch' and the final line end lines: " + t);
    }

    @Test
    void fastStepsAreThrottledButTheLastAlwaysDraws() {
        Progress p = new Progress(out, Progress.Mode.BAR, 1, 1000, () -> now);
        runEpoch(p, 1, 1000, 1_000_000L, metrics("loss", 0.25)); // 1 ms per step: ~20 redraws, not 1000
        long draws = text().chars().filter(c -> c == '\r').count();
        assertTrue(draws >= 20 && draws <= 25, draws + " redraws");
        // The summary pads over the longer in-progress line (metrics differ), then ends the line.
        assertTrue(text().matches("(?s).*\r1000/1000 \\[=+\\] - 1s 1ms/step - loss: 0\\.2500 *\n"), text());
    }

    @Test
    void shorterRedrawsEraseTheOldTail() {
        Progress p = new Progress(out, Progress.Mode.BAR, 1, 2, () -> now);
        p.beginEpoch(1);
        now += 100_000_000L;
        p.step(1, metrics("a_very_long_metric_name", 1));
        now += 100_000_000L;
        p.step(2, metrics());
        String t = text();
        String first = t.substring(t.indexOf('\r') + 1, t.lastIndexOf('\r'));
        String second = t.substring(t.lastIndexOf('\r') + 1);
        assertEquals(first.length(), second.length(), "the redraw must cover the previous line: [" + t + "]");
    }

    @Test
    void summaryModePrintsOneLinePerEpoch() {
        Progress p = new Progress(out, Progress.Mode.SUMMARY, 2, 4, () -> now);
        runEpoch(p, 1, 4, 2_000_000_000L, metrics("loss", 0.5));
        runEpoch(p, 2, 4, 2_000_000_000L, metrics("loss", 0.25, "val_loss", 0.3));
        assertEquals("Epoch 1/2 - 8s 2s/step - loss: 0.5000\nEpoch 2/2 - 8s 2s/step - loss: 0.2500 - val_loss: 0.3000\n",
                text());
    }

    @Test
    void silentPrintsNothingAndAutoIsQuietWithoutATerminal() {
        Progress p = new Progress(out, Progress.Mode.SILENT, 1, 3, () -> now);
        runEpoch(p, 1, 3, 1000, metrics("loss", 1));
        assertEquals("", text());
        if (System.console() == null) {
            assertEquals(Progress.Mode.SUMMARY, new Progress(out, Progress.Mode.AUTO, 1, 1, () -> now).mode());
        }
    }

    @Test
    void misuseIsRejected() {
        Progress p = new Progress(out, Progress.Mode.BAR, 2, 3, () -> now);
        assertThrows(IllegalStateException.class, () -> p.step(1, Map.of()));
        assertThrows(IllegalStateException.class, () -> p.endEpoch(Map.of()));
        assertThrows(IllegalArgumentException.class, () -> p.beginEpoch(3));
        p.beginEpoch(1);
        assertThrows(IllegalArgumentException.class, () -> p.step(4, Map.of()));
        assertThrows(IllegalArgumentException.class, () -> p.step(0, Map.of()));
        assertThrows(IllegalArgumentException.class, () -> new Progress(out, Progress.Mode.BAR, 0, 3, () -> now));
    }
}
