package dev.soma.backend;

import dev.soma.jni.CpuKernels;

/**
 * Lets idle OpenMP workers spin while the machine has cores to spare, and sleep at once while this process's
 * threads wait for cores (another busy process, or the embedding service's own busy threads).
 *
 * <p>After each parallel region GNU libgomp (with {@code OMP_WAIT_POLICY} unset) keeps its workers spinning for
 * milliseconds, so that the next region starts at once. On a quiet machine that is what makes a training step fast:
 * sleeping workers (the passive policy) made the reference models' steps 3-29 % slower. Under load it is what makes
 * them collapse: a spinning worker burns the time slice of the core it shares with a busy process while the thread
 * it waits for is preempted, and with two busy loops beside it the gan step went from 1.6 ms to a median of 12-25 ms
 * with a p90 of 70-116 ms (whole scheduler periods), against 5.6-6 ms sleeping. No fixed policy is right for both, so
 * a daemon thread samples every {@value #INTERVAL_MS} ms which share of their runnable time this process's threads
 * spent waiting for a core (Linux {@code /proc/self/task/*}{@code /schedstat}; less often where reading those files
 * would cost over 1 % of a core), and switches libgomp's short waits on after {@value #ON_AFTER} samples in a row
 * above {@value #CONTENDED_PERCENT} %, and off after {@value #OFF_AFTER} in a row below {@value #QUIET_PERCENT} %
 * ({@code native/src/omp_wait.cpp} says how). Measured on a 2-core host: beside two busy loops every sample was
 * 40-61 %; on a quiet host half were about 1 % and nine in ten under 15 %, with bursts up to 43 % while the JIT
 * compiled (so one or two high samples are not load).
 *
 * <p>While waits are short, the loops whose results do not depend on how they are split (element-wise, per row,
 * copies, optimizer updates, and the reductions whose partial sums are fixed by the shape) go parallel only above
 * eight times their usual size, since each region now wakes a sleeping worker. Reductions split by thread and
 * oneDNN's primitives keep theirs.
 *
 * <p>Unlike a thread count that follows the load ({@link ThreadTuner}), the waiting mode does not change how any
 * work is split, so results stay bit for bit the same: it is on by default. It stays off where the user chose a
 * policy ({@code OMP_WAIT_POLICY} or {@code GOMP_SPINCOUNT} set), with one OpenMP thread, without schedstat (not
 * Linux), and with {@code -Dsoma.cpu.loadAwareWait=false}.
 */
public final class LoadAwareWaiting {
    static final long INTERVAL_MS = 100;
    static final int CONTENDED_PERCENT = 30;
    static final int QUIET_PERCENT = 20;
    static final int ON_AFTER = 3;
    static final int OFF_AFTER = 3;

    private static final boolean TRACE = Boolean.getBoolean("soma.cpu.loadAwareWait.trace");
    private static Thread watcher;
    private static String disabledBecause;
    private static boolean held; // guarded by the class lock

    private LoadAwareWaiting() {}

    /** Starts the watcher once per process, unless the user chose a wait policy or the machine cannot tell load. */
    public static synchronized void start() {
        if (watcher != null || disabledBecause != null) return;
        disabledBecause = reasonToStayOff();
        if (disabledBecause != null) return;
        watcher = new Thread(LoadAwareWaiting::watch, "soma-load-aware-wait");
        watcher.setDaemon(true);
        watcher.start();
    }

    /** One line for {@code soma info}: the mode in force and why. */
    public static synchronized String describe() {
        if (disabledBecause != null) return "off (" + disabledBecause + ")";
        if (watcher == null) return "not started (no CPU work yet)";
        return "load-aware: workers spin while cores are free, sleep under contention (now: "
                + (shortWaits() ? "sleeping" : "spinning") + ")";
    }

    /** True while idle workers sleep after a few spins. */
    public static boolean shortWaits() {
        dev.soma.jni.NativeLibraries.cpu(); // a report may ask before any CPU work loaded the library
        return CpuKernels.soma_cpu_omp_short_waits_on() != 0;
    }

    /**
     * Fixes the mode until the returned handle is closed (the watcher keeps sampling but does not switch): for
     * tests and measurements that compare the two modes.
     */
    static AutoCloseable hold(boolean shortWaits) {
        synchronized (LoadAwareWaiting.class) {
            held = true;
            CpuKernels.soma_cpu_omp_short_waits(shortWaits ? 1 : 0);
        }
        return () -> {
            synchronized (LoadAwareWaiting.class) {
                held = false;
            }
        };
    }

    private static String reasonToStayOff() {
        if (!Boolean.parseBoolean(System.getProperty("soma.cpu.loadAwareWait", "true")))
            return "-Dsoma.cpu.loadAwareWait=false";
        for (String v : new String[] {"OMP_WAIT_POLICY", "GOMP_SPINCOUNT"}) {
            String set = System.getenv(v);
            if (set != null && !set.isBlank()) return v + "=" + set + " chosen by the user";
        }
        if (ComputeThreads.max() < 2) return "one OpenMP thread";
        if (SchedStat.processTotals() == null) return "no /proc/self/task/*/schedstat on this system";
        return null;
    }

    private static void watch() {
        Decision decision = new Decision();
        long[] last = SchedStat.processTotals();
        long pauseMs = INTERVAL_MS;
        while (true) {
            try {
                Thread.sleep(pauseMs);
            } catch (InterruptedException e) {
                return;
            }
            long started = System.nanoTime();
            long[] now = SchedStat.processTotals();
            // One file per thread: a service with hundreds of threads samples less often, so that the watcher
            // never takes more than about 1 % of one core.
            pauseMs = Math.max(INTERVAL_MS, (System.nanoTime() - started) * 100 / 1_000_000);
            if (now == null) return;
            long run = now[0] - last[0];
            long wait = now[1] - last[1];
            last = now;
            // A thread that ended took its times with it: such a sample says nothing and changes nothing.
            if (run < 0 || wait < 0) continue;
            double fraction = run + wait == 0 ? 0 : wait / (double) (run + wait);
            boolean on = decision.next(fraction);
            if (TRACE) System.err.printf("soma load-aware wait: threads waited %.1f %% of their runnable time, "
                    + "short waits %s%n", fraction * 100, on);
            synchronized (LoadAwareWaiting.class) {
                if (!held && on != shortWaits()) CpuKernels.soma_cpu_omp_short_waits(on ? 1 : 0);
            }
        }
    }

    /** The hysteresis: on after ON_AFTER contended samples in a row, off after OFF_AFTER quiet ones. */
    static final class Decision {
        private boolean on;
        private int contended;
        private int quiet;

        /** Takes one sample (the threads' wait for a core / their runnable time) and returns whether waits should be short. */
        boolean next(double waitFraction) {
            contended = waitFraction * 100 > CONTENDED_PERCENT ? contended + 1 : 0;
            quiet = waitFraction * 100 < QUIET_PERCENT ? quiet + 1 : 0;
            if (!on && contended >= ON_AFTER) on = true;
            else if (on && quiet >= OFF_AFTER) on = false;
            return on;
        }
    }
}
