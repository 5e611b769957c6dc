package dev.soma.backend;

import org.junit.jupiter.api.Test;

import java.util.function.IntToDoubleFunction;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The tuner's decisions on synthetic step costs (no native calls: the test reads the count the tuner would set).
 * Costs carry a little deterministic jitter so that medians, not single values, decide.
 */
class ThreadTunerTest {
    /** Runs {@code units} units whose cost depends on the unit index and the count in force; returns probe units. */
    private static int drive(ThreadTuner tuner, int from, int units, CostModel cost) {
        int probes = 0;
        for (int i = from; i < from + units; i++) {
            int n = tuner.threadsForNextUnit();
            if (n != tuner.threads()) probes++;
            double jitter = 1 + 0.03 * ((i * 7919) % 11 - 5) / 5.0;
            tuner.end(cost.at(i, n) * jitter);
        }
        return probes;
    }

    /** A tuner whose thread never waits for a core (so only step times decide), with a clock of its own. */
    private static ThreadTuner quietTuner(int max) {
        long[] clock = {0};
        return new ThreadTuner(max, true, () -> 0, () -> clock[0] += 1_000_000);
    }

    interface CostModel {
        double at(int unit, int threads);
    }

    private static CostModel fixed(IntToDoubleFunction byThreads) {
        return (unit, threads) -> byThreads.applyAsDouble(threads);
    }

    @Test
    void aSteadyHostIsNeverProbed() {
        // Whatever is fastest, a steady level changes nothing: the run keeps the process's count (and its bits).
        for (double oneThread : new double[] {17, 8}) {
            ThreadTuner t = quietTuner(2);
            assertEquals(0, drive(t, 0, 20_000, fixed(n -> n == 2 ? 10 : oneThread)), "probe units");
            assertEquals(2, t.threads());
            assertEquals(0, t.switches());
        }
    }

    @Test
    void followsLoadThatComesAndGoes() {
        ThreadTuner t = quietTuner(2);
        // quiet: 2 threads win; busy cores from unit 2000 to 4000: one thread wins by far
        CostModel load = (unit, n) -> unit >= 2000 && unit < 4000 ? (n == 2 ? 60 : 28) : (n == 2 ? 16 : 28);
        drive(t, 0, 2000, load);
        assertEquals(2, t.threads(), "quiet host");
        drive(t, 2000, 40, load);
        assertEquals(1, t.threads(), "within 40 steps of the load starting");
        int probes = drive(t, 2040, 1960, load);
        assertEquals(1, t.threads(), "load still there");
        assertTrue(probes <= 4 * 2 * (ThreadTuner.PROBE + 1), probes + " probe units under load: backing off");
        drive(t, 4000, 1200, load);
        assertEquals(2, t.threads(), "within 1200 steps of the load leaving");
    }

    @Test
    void keepsHalvingWhileItPays() {
        ThreadTuner t = quietTuner(16);
        // 12 of 16 cores taken from unit 1000 on: 4 threads is the sweet spot
        CostModel busy = (unit, n) -> unit < 1000 ? 10.0 / n + 1 : switch (n) {
            case 16 -> 40;
            case 8 -> 20;
            case 4 -> 10;
            case 2 -> 14;
            default -> 25;
        };
        drive(t, 0, 1000, busy);
        assertEquals(16, t.threads());
        drive(t, 1000, 200, busy);
        assertEquals(4, t.threads());
    }

    @Test
    void undoesAnUnluckySwitch() {
        ThreadTuner t = quietTuner(2);
        // Load arrives at unit 500 and slows both counts alike; one thread looks faster only while it is first
        // probed (a burst hit the two-thread window), then runs slower than two.
        int[] seen = {0};
        CostModel unlucky = (unit, n) -> {
            if (unit < 500) return n == 2 ? 10 : 20;
            if (n == 1) seen[0]++;
            return n == 1 ? (seen[0] <= 4 ? 5 : 40) : 20;
        };
        drive(t, 0, 700, unlucky);
        assertEquals(2, t.threads());
        assertEquals(2, t.switches(), "switched to 1, then back to 2");
    }

    @Test
    void loadPresentFromTheStartIsSeenInTheRunQueueWait() {
        // Busy cores from the first unit: no level change, but the loop's thread waits for a core 40 % of the time
        // at two threads and 5 % at one.
        long[] clock = {0};
        long[] waited = {0};
        int[] last = {2};
        ThreadTuner t = new ThreadTuner(2, true, () -> waited[0], () -> clock[0]);
        for (int i = 0; i < 200; i++) {
            int n = t.threadsForNextUnit();
            last[0] = n;
            double ms = n == 2 ? 12 : 8;
            clock[0] += (long) (ms * 1e6);
            waited[0] += (long) (ms * 1e6 * (n == 2 ? 0.4 : 0.05));
            t.end(ms);
        }
        assertEquals(1, t.threads());
        ThreadTuner quiet = new ThreadTuner(2, true, () -> 0, () -> clock[0] += 1_000_000);
        assertEquals(0, drive(quiet, 0, 3000, fixed(n -> n == 2 ? 10 : 8)), "no wait, no probe");
        ThreadTuner unknown = new ThreadTuner(2, true, () -> -1, () -> clock[0] += 1_000_000);
        assertEquals(0, drive(unknown, 0, 3000, fixed(n -> n == 2 ? 10 : 8)), "no schedstat, no probe");
    }

    /**
     * A quiet host while the JIT compiles (units 100-1100): every other unit runs twice as long and the loop's thread
     * waits for a core half the time, because compiler threads hold the other core. Counted as load, that makes the
     * tuner probe and, since a one-thread team is not held up by the compiler, switch; left out (the JVM's activity
     * counter moved during those units), nothing changes.
     */
    @Test
    void unitsOverlappingJitOrGcAreNotLoad() {
        for (boolean seesJvm : new boolean[] {true, false}) {
            long[] clock = {0}, waited = {0}, ticks = {0};
            ThreadTuner t = new ThreadTuner(2, true, () -> waited[0], () -> clock[0], () -> seesJvm ? ticks[0] : 0);
            int probes = 0;
            for (int i = 0; i < 3000; i++) {
                int n = t.threadsForNextUnit();
                if (n != t.threads()) probes++;
                boolean compiling = i >= 100 && i < 1100 && i % 2 == 0;
                double ms = n == 2 ? (compiling ? 20 : 10) : (compiling ? 12 : 11);
                clock[0] += (long) (ms * 1e6);
                if (compiling) {
                    waited[0] += (long) (ms * 1e6 * (n == 2 ? 0.5 : 0.05));
                    ticks[0] += 3;  // 3 ms of compilation
                }
                t.end(ms);
            }
            if (seesJvm) {
                assertEquals(0, probes, "probe units while the JIT compiled");
                assertEquals(2, t.threads());
                assertEquals(0, t.switches());
                assertTrue(t.jvmSkipped() >= 500, t.jvmSkipped() + " units left out");
            } else {
                assertTrue(probes > 0, "without the JVM's activity the compiler threads look like load");
            }
        }
    }

    @Test
    void disabledOrSingleThreadedNeverChanges() {
        ThreadTuner off = new ThreadTuner(4, false);
        assertEquals(0, drive(off, 0, 3000, fixed(n -> n == 4 ? 30 : 1)));
        assertEquals(4, off.threads());
        ThreadTuner one = quietTuner(1);
        assertEquals(0, drive(one, 0, 3000, fixed(n -> 5)));
        assertEquals(1, one.threads());
    }

    @Test
    void ignoresUnusableCostsAndRejectsBadSizes() {
        ThreadTuner t = quietTuner(2);
        for (int i = 0; i < 500; i++) t.end(i % 2 == 0 ? Double.NaN : -1);
        assertEquals(2, t.threadsForNextUnit());
        assertThrows(IllegalArgumentException.class, () -> quietTuner(0));
    }
}
