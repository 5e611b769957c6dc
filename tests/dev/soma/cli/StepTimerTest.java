package dev.soma.cli;

import dev.soma.util.JvmActivity;
import org.junit.jupiter.api.Test;

import java.io.PrintWriter;
import java.io.StringWriter;

import static org.junit.jupiter.api.Assertions.*;

class StepTimerTest {
    @Test
    void percentilesAreNearestRank() {
        double[] sorted = new double[100];
        for (int i = 0; i < 100; i++) sorted[i] = i + 1;
        assertEquals(90, StepTimer.percentile(sorted, 0.90));
        assertEquals(99, StepTimer.percentile(sorted, 0.99));
        assertEquals(100, StepTimer.percentile(sorted, 1.0));
        assertEquals(7, StepTimer.percentile(new double[] {7}, 0.99));
    }

    @Test
    void theReportNamesTheCpuAndTheTail() {
        StringWriter text = new StringWriter();
        int[] calls = new int[1];
        StepTimer.run(new PrintWriter(text, true), "noop", 1, 2, 10, null, () -> calls[0]++);
        assertEquals(12, calls[0]);
        String out = text.toString();
        for (String key : new String[] {"cpu=\"", "isa=", "logical_cpus=", "process_cpu_ms_per_step=", "median_ms=", "p90_ms=",
                "p99_ms=", "max_ms=", "jvm_steps_gc=", "jvm_steps_jit=", "p99_quiet_ms=", "quiet_steps=", "jit_threshold_scaling="}) {
            assertTrue(out.contains(key), key + " missing from: " + out);
        }
    }

    @Test
    void theJvmLineSeparatesStepsThatOverlappedACollectionOrACompilation() {
        double[] ms = new double[100];
        JvmActivity[] jvm = new JvmActivity[100];
        for (int i = 0; i < 100; i++) {
            ms[i] = 1 + i * 0.01;       // quiet steps: 1.00 .. 1.99
            jvm[i] = JvmActivity.NONE;
        }
        ms[10] = 50;                    // a collection of 40 ms
        jvm[10] = new JvmActivity(1, 40, 0);
        ms[20] = 30;                    // a compilation of 12 ms
        jvm[20] = new JvmActivity(0, 0, 12);
        ms[30] = 20;                    // both
        jvm[30] = new JvmActivity(2, 5, 3);
        String line = StepTimer.jvmLine(ms, jvm);
        assertEquals("jvm_steps_gc=2 jvm_gc_ms=45 jvm_steps_jit=2 jvm_jit_ms=15 p99_quiet_ms=1.99 quiet_steps=97", line);
        // Nothing quiet: the tail without JVM activity is unknown, not zero.
        JvmActivity[] busy = new JvmActivity[] {new JvmActivity(1, 1, 0)};
        assertTrue(StepTimer.jvmLine(new double[] {3}, busy).contains("p99_quiet_ms=nan quiet_steps=0"));
    }

    @Test
    void jvmReadingsOnlyGrowAndTheirDifferenceIsWhatHappenedBetween() {
        JvmActivity a = JvmActivity.now();
        byte[][] garbage = new byte[64][];
        // Allocate until a collection shows (a fixed 1.3 GB fit into a large young generation once, with no
        // collection); four times the maximum heap cannot fit, so the loop always ends with one.
        long cap = 4 * Runtime.getRuntime().maxMemory();
        long allocated = 0;
        JvmActivity d = JvmActivity.now().since(a);
        for (int i = 0; d.gcCount() == 0 && allocated < cap; i++) {
            garbage[i % 64] = new byte[64 * 1024];
            allocated += 64 * 1024;
            if (i % 1024 == 1023) d = JvmActivity.now().since(a);
        }
        assertTrue(d.gcCount() >= 1, allocated + " bytes allocated without a collection: " + d);
        assertTrue(d.gcMillis() >= 0 && d.jitMillis() >= 0, d.toString());
        assertFalse(d.quiet());
        assertTrue(new JvmActivity(0, 0, 0).quiet());
        assertEquals(new JvmActivity(2, 3, 4), new JvmActivity(5, 7, 9).since(new JvmActivity(3, 4, 5)));
        assertEquals(64 * 1024, garbage[7].length);
    }

    @Test
    void settlingRunsUntilTheJitIsQuietAndSaysSo() {
        StringWriter text = new StringWriter();
        int[] calls = new int[1];
        long t0 = System.nanoTime();
        text.write(StepTimer.settle(() -> calls[0]++, 50, 20_000_000L, 10_000_000_000L).line());
        double seconds = (System.nanoTime() - t0) / 1e9;
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("settle_steps=(\\d+) settle_s=([0-9.]+) settled=(true|false)")
                .matcher(text.toString());
        assertTrue(m.find(), text.toString());
        int extra = Integer.parseInt(m.group(1));
        assertEquals(calls[0], extra);
        assertTrue(extra >= 50, "at least one quiet window of steps: " + extra);
        assertTrue(seconds >= 0.02, "the quiet window also lasts its minimum time: " + seconds);
        assertTrue(Boolean.parseBoolean(m.group(3)), "a no-op step settles long before the limit: " + text);
    }

    @Test
    void settlingGivesUpAtItsLimitAndSaysSo() {
        StringWriter text = new StringWriter();
        // A window longer than the limit can never close.
        text.write(StepTimer.settle(() -> {}, 10, 60_000_000_000L, 50_000_000L).line());
        assertTrue(text.toString().contains("settled=false"), text.toString());
    }

    @Test
    void theDefaultRunSettlesOnlyWhenAsked() {
        StringWriter settled = new StringWriter();
        int[] calls = new int[1];
        boolean[] sawSettleLine = new boolean[1];
        // Formatting during the timed steps gave the JIT work there; the step looks for the line while it runs.
        StepTimer.run(new PrintWriter(settled, true), "noop", 1, 2, 10, null, true, () -> {
            calls[0]++;
            sawSettleLine[0] |= settled.toString().contains("settle_steps=");
        });
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("settle_steps=(\\d+)").matcher(settled.toString());
        assertTrue(m.find(), settled.toString());
        assertEquals(2 + Integer.parseInt(m.group(1)) + 10, calls[0]);
        assertTrue(Integer.parseInt(m.group(1)) >= StepTimer.SETTLED_STEPS, settled.toString());
        assertFalse(sawSettleLine[0], "the settle line is formatted after the timed steps, not before them");
        StringWriter plain = new StringWriter();
        StepTimer.run(new PrintWriter(plain, true), "noop", 1, 2, 10, null, false, () -> {});
        assertFalse(plain.toString().contains("settle_steps="), plain.toString());
    }
}
