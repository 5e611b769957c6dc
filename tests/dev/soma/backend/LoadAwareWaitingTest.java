package dev.soma.backend;

import dev.soma.jni.CpuKernels;
import dev.soma.memory.Scope;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** Idle OpenMP workers spin while cores are free and sleep under contention, without changing any result. */
@ExtendWith(NoLeaks.class)
class LoadAwareWaitingTest {
    @Test
    void decisionSwitchesOnlyAfterRunsOfSamples() {
        double contended = (LoadAwareWaiting.CONTENDED_PERCENT + 1) / 100.0;
        double between = (LoadAwareWaiting.CONTENDED_PERCENT + LoadAwareWaiting.QUIET_PERCENT) / 200.0;
        double quiet = (LoadAwareWaiting.QUIET_PERCENT - 1) / 100.0;
        var d = new LoadAwareWaiting.Decision();
        for (int i = 1; i < LoadAwareWaiting.ON_AFTER; i++)
            assertFalse(d.next(contended), "a short burst is not load (the JIT compiling looks like that)");
        assertFalse(d.next(between), "a sample between the bounds ends the run");
        for (int i = 1; i < LoadAwareWaiting.ON_AFTER; i++) assertFalse(d.next(1.5));
        assertTrue(d.next(contended), LoadAwareWaiting.ON_AFTER + " contended samples in a row");
        for (int i = 0; i < 10; i++) assertTrue(d.next(between), "between the bounds nothing changes");
        for (int i = 1; i < LoadAwareWaiting.OFF_AFTER; i++) assertTrue(d.next(quiet), "quiet sample " + i);
        assertTrue(d.next(contended), "a contended sample resets the quiet run");
        for (int i = 1; i < LoadAwareWaiting.OFF_AFTER; i++) assertTrue(d.next(0.0));
        assertFalse(d.next(0.0), "off after " + LoadAwareWaiting.OFF_AFTER + " quiet samples in a row");
        for (int i = 1; i < LoadAwareWaiting.ON_AFTER; i++) assertFalse(d.next(contended));
        assertTrue(d.next(contended), "and on again");
    }

    @Test
    void shortWaitsStopTheIdleSpinAndLongWaitsComeBack() throws Exception {
        assumeTrue(ComputeThreads.max() >= 2, "needs two OpenMP threads");
        // The worker of a two-thread team, idle for 20 ms after a region: libgomp's long spin burns milliseconds of
        // it, a short one microseconds. Best of three attempts on each side, so a busy CI host cannot fake either.
        double shortSpin = Double.MAX_VALUE;
        double longSpin = 0;
        for (int attempt = 0; attempt < 3; attempt++) {
            try (var held = LoadAwareWaiting.hold(true)) {
                assertTrue(LoadAwareWaiting.shortWaits());
                shortSpin = Math.min(shortSpin, median(12));
            }
            try (var held = LoadAwareWaiting.hold(false)) {
                assertFalse(LoadAwareWaiting.shortWaits());
                longSpin = Math.max(longSpin, median(12));
            }
        }
        assertTrue(shortSpin < 200_000, "short waits: the idle worker burnt " + shortSpin + " ns per 20 ms gap");
        assertTrue(longSpin > 500_000 && longSpin > 5 * shortSpin,
                "long waits: the idle worker burnt " + longSpin + " ns per gap (short: " + shortSpin + ")");
    }

    @Test
    void resultsAreTheSameBitForBitInBothModes() throws Exception {
        assumeTrue(ComputeThreads.max() >= 2, "needs two OpenMP threads");
        float[] a = random(256 * 384, 1);
        float[] b = random(384 * 200, 2);
        float[][] got = new float[2][];
        for (int mode = 0; mode < 2; mode++) {
            try (var held = LoadAwareWaiting.hold(mode == 1); Scope s = Scope.open()) {
                Tensor x = Tensor.of(a, 256, 384);
                Tensor w = Tensor.of(b, 384, 200);
                got[mode] = x.matmul(w).tanh().sum(new int[] {0}, false).toFloatArray();
            }
        }
        assertArrayEquals(got[0], got[1], 0f);
    }

    @Test
    void contentionTurnsShortWaitsOn() throws Exception {
        LoadAwareWaiting.start();
        assumeTrue(LoadAwareWaiting.describe().startsWith("load-aware"), LoadAwareWaiting::describe);
        // Twice as many busy threads as cores: on average at least one of this process's threads waits for a core,
        // far above what counts as contended.
        int n = 2 * Runtime.getRuntime().availableProcessors();
        AtomicBoolean stop = new AtomicBoolean();
        List<Thread> busy = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            Thread t = new Thread(() -> {
                long x = 0;
                while (!stop.get()) x += System.nanoTime() & 1;
                if (x == 42) System.out.print("");
            });
            t.setDaemon(true);
            t.start();
            busy.add(t);
        }
        boolean on = false;
        try {
            long deadline = System.nanoTime() + 5_000_000_000L;
            while (!(on = LoadAwareWaiting.shortWaits()) && System.nanoTime() < deadline) Thread.sleep(20);
        } finally {
            stop.set(true);
            for (Thread t : busy) t.join();
        }
        assertTrue(on, "short waits within 5 s of " + n + " busy threads on "
                + Runtime.getRuntime().availableProcessors() + " cores");
    }

    @Test
    void describeSaysTheMode() {
        LoadAwareWaiting.start();
        String d = LoadAwareWaiting.describe();
        assertTrue(d.startsWith("load-aware") || d.startsWith("off ("), d);
        long[] times = SchedStat.processTotals();
        assertTrue(times != null && times[0] > 0 && times[1] >= 0 || d.startsWith("off ("), d);
    }

    private static double median(int rounds) {
        double[] v = new double[5];
        for (int i = 0; i < v.length; i++) v[i] = CpuKernels.soma_cpu_omp_idle_spin_ns(rounds / v.length + 1, 20_000);
        Arrays.sort(v);
        return v[v.length / 2];
    }

    private static float[] random(int n, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) r.nextDouble(-1, 1);
        return v;
    }
}
