package dev.soma.cli;

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
        for (String key : new String[] {"cpu=\"", "isa=", "logical_cpus=", "process_cpu_ms_per_step=", "median_ms=", "p90_ms=", "p99_ms=", "max_ms="}) {
            assertTrue(out.contains(key), key + " missing from: " + out);
        }
    }
}
