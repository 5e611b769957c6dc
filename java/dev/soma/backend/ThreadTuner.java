package dev.soma.backend;

import java.util.Arrays;

/**
 * Chooses, by measurement, how many threads a repeated unit of CPU work (a training step, a served batch) runs on.
 *
 * <p>On a quiet host every core is ours and the process's thread count wins. When other processes, or the
 * embedding service's own threads, keep cores busy, a team whose member is preempted waits for it at every barrier:
 * a step on two busy cores then took 3-25x its quiet time with two threads and under 2x with one. No load signal
 * from the operating system says which count is faster (a container's /proc/stat shows the whole host; in-process
 * load counts as ours), so the tuner tries: the loop calls {@link #begin()} before each unit and {@link #end(double)}
 * with its cost after, and the tuner
 * <ul>
 *   <li>after a warm-up of {@value #WARMUP} units (the JIT), keeps the median of the last {@value #WINDOW} units at
 *       the current count as its level, and changes nothing while the level holds: a quiet host runs on the
 *       process's count throughout, probes nothing, and computes the same bits as with the tuner off;</li>
 *   <li>when the level rises by a quarter (others took cores), times {@value #PROBE} units at half the count and
 *       switches when their median is at least {@value #SWITCH_GAIN_PERCENT} % lower (the first unit at a new count
 *       is not timed: it builds that count's oneDNN primitives), and goes on halving while that pays;</li>
 *   <li>also probes half the count when the loop's own thread waited for a core over {@value #CONTENDED_PERCENT} %
 *       of the time in two windows in a row (Linux schedstat: load present from the start shows no level change), backing off to every
 *       1,024 units while the current count keeps winning;</li>
 *   <li>checks each switch on the first full window after it and probes the way back when that runs slower than the
 *       count it left;</li>
 *   <li>below the maximum, probes double the count when the level falls by a quarter (load left), and otherwise
 *       after 64 units, backing off to every 1,024 while the lower count keeps winning (a probe under load costs
 *       a few slow units; waiting longer costs speed after the load left).</li>
 * </ul>
 * Level changes and waits act only {@value #MIN_GAP} units or more after the last probe (a noisy load moves the
 * median back and forth). Units during which the JVM compiled or collected garbage ({@link
 * dev.soma.util.JvmActivity}) count for nothing: neither their time nor their run-queue wait says anything about
 * other processes, and on a quiet 2-core host the JIT's compiler threads alone made the tuner probe.
 *
 * <p>Opt-in ({@code -Dsoma.cpu.adaptiveThreads=true}), for two reasons. Reductions in oneDNN and in our kernels split
 * their sums by thread count, so a run whose count followed the load differs from another in the last bits, and
 * training is bit-for-bit reproducible only with a fixed count. And on this project's quiet 2-core hosts the JIT's
 * compiler threads made it probe, and in 2 of 4 runs settle on one thread (cnn 24 ms a step against 16 ms); units
 * overlapping compilation are now left out, yet on a quiet host it still made the attn step 17-30 % slower in two
 * settled runs (bench/cpu/load-test.sh, docs/cpu-performance.md), the other reference models within noise.
 * One tuner per loop, used from the loop's thread only; outside its units the thread keeps its own count.
 */
public final class ThreadTuner {
    private static final System.Logger LOG = System.getLogger(ThreadTuner.class.getName());
    /** The switch, read when a tuner is made: {@code -Dsoma.cpu.adaptiveThreads=true} lets counts follow the load. */
    public static final String PROPERTY = "soma.cpu.adaptiveThreads";
    static final int WARMUP = 20;
    static final int WINDOW = 8;
    static final int PROBE = 3;
    static final int SWITCH_GAIN_PERCENT = 8;
    static final double LEVEL_SHIFT = 1.25;
    static final int CONTENDED_PERCENT = 35;
    static final long MIN_GAP = 64;
    static final long FIRST_PERIOD = 64;
    static final long MAX_PERIOD = 1024;

    private static final ThreadLocal<int[]> LAST_UNIT = ThreadLocal.withInitial(() -> new int[1]);

    private final int max;
    private final boolean enabled;
    private int threads;
    private int warm = WARMUP;
    private final java.util.function.LongSupplier waitNanos;
    private final java.util.function.LongSupplier clock;
    /** Grows whenever the JVM compiled or collected (JvmActivity.ticks); -1 before the first reading. */
    private final java.util.function.LongSupplier jvmTicks;
    private long jvmMark = -1;
    private long jvmSkipped;
    private long waitMark = -1;
    private long clockMark;
    private int sinceWaitMark;
    private int contendedWindows;
    private final double[] recent = new double[WINDOW];
    private int recentCount;
    private int recentNext;
    private double level = Double.NaN;
    private long sinceProbe = FIRST_PERIOD; // the first contended window may probe at once
    private long period = FIRST_PERIOD;
    private int probing;
    private boolean probeWarm;
    private final double[] probe = new double[PROBE];
    private int probeCount;
    private long switches;
    private double before = Double.POSITIVE_INFINITY;
    private int beforeThreads;
    /** Chooses where the unit's split-invariant loops run; it changes no result, so it measures even when this does not. */
    private SplitTuner split = SplitTuner.inert();

    /** A tuner over 1 .. {@link ComputeThreads#max()} threads. */
    public ThreadTuner() {
        this(ComputeThreads.max(), adaptive());
        split = new SplitTuner();
    }

    ThreadTuner(int max, boolean enabled) {
        this(max, enabled, SchedStat::threadWaitNanos, System::nanoTime, dev.soma.util.JvmActivity::ticks);
    }

    /** With the calling thread's run-queue wait and a clock given (tests), and a JVM that never compiles or collects. */
    ThreadTuner(int max, boolean enabled, java.util.function.LongSupplier waitNanos, java.util.function.LongSupplier clock) {
        this(max, enabled, waitNanos, clock, () -> 0);
    }

    /** With the run-queue wait (below 0: unknown), a clock and the JVM's activity counter given (tests). */
    ThreadTuner(int max, boolean enabled, java.util.function.LongSupplier waitNanos, java.util.function.LongSupplier clock,
                java.util.function.LongSupplier jvmTicks) {
        if (max < 1) throw new IllegalArgumentException("ThreadTuner: max threads " + max + " < 1");
        this.waitNanos = waitNanos;
        this.clock = clock;
        this.jvmTicks = jvmTicks;
        this.max = max;
        this.enabled = enabled && max > 1;
        this.threads = max;
    }

    /**
     * Sets the calling thread's count for the next unit of work (the choice, or the count being probed) and returns
     * the count before, which the caller restores when the unit ends, normally or not:
     * {@code int before = tuner.begin(); try { ...; tuner.end(cost); } finally { ComputeThreads.set(before); }}.
     */
    public int begin() {
        int n = enabled ? threadsForNextUnit() : ComputeThreads.current();
        LAST_UNIT.get()[0] = n;
        return enabled ? ComputeThreads.set(n) : n;
    }

    /**
     * Runs one unit of {@code items} items (a batch's examples) on the tuner's count, reports its cost per item and
     * hands the calling thread's own count back, also when the work throws.
     */
    public <T> T run(int items, java.util.function.Supplier<T> work) {
        int before = begin();
        // The split is timed only on the count chosen (not while a probe times another) and with a team to split over.
        int splitBefore = split.begin(probing == 0 && ComputeThreads.current() > 1);
        try {
            long t0 = System.nanoTime();
            T result = work.get();
            double cost = (System.nanoTime() - t0) / (double) Math.max(1, items);
            end(cost);
            split.end(cost);
            return result;
        } finally {
            split.restore(splitBefore);
            ComputeThreads.set(before);
        }
    }

    /** The count the calling thread's last tuned unit ran on (0 before any): for traces and reports. */
    public static int lastUnitThreads() {
        return LAST_UNIT.get()[0];
    }

    /** Whether thread counts may follow the load: opt-in, {@code -Dsoma.cpu.adaptiveThreads=true}. */
    public static boolean adaptive() {
        return "true".equalsIgnoreCase(System.getProperty(PROPERTY));
    }

    /** The count the next unit runs on (what {@link #begin()} sets). */
    int threadsForNextUnit() {
        return probing > 0 ? probing : threads;
    }

    /** The count chosen so far. */
    public int threads() {
        return threads;
    }

    /** How often the choice changed. */
    public long switches() {
        return switches;
    }

    /** How many units overlapped a compilation or a collection and were left out. */
    public long jvmSkipped() {
        return jvmSkipped;
    }

    /** Reports the cost of the unit begun last, in any unit proportional to time per item (e.g. ns per example). */
    public void end(double cost) {
        if (!enabled || !(cost >= 0) || Double.isInfinite(cost)) return;
        if (warm > 0) {
            warm--;
            jvmMark = jvmTicks.getAsLong();
            return;
        }
        long ticks = jvmTicks.getAsLong();
        boolean jvmBusy = jvmMark < 0 || ticks != jvmMark;
        jvmMark = ticks;
        if (jvmBusy) {
            // The JVM compiled or collected during this unit: its time and wait are not the load's. The window
            // of run-queue waits it fell in counts for nothing either.
            jvmSkipped++;
            waitMark = -1;
            return;
        }
        if (probing > 0) {
            endProbeUnit(cost);
            return;
        }
        recent[recentNext] = cost;
        recentNext = (recentNext + 1) % WINDOW;
        if (recentCount < WINDOW) recentCount++;
        sinceProbe++;
        boolean contended = contended();
        if (recentCount < WINDOW) return;
        double now = median(recent, WINDOW);
        if (Double.isNaN(level)) {
            level = now;
            if (switches == 0) return;
            if (now * 100 > before * (100 + SWITCH_GAIN_PERCENT)) {
                // The first full window after a switch runs slower than the count we left: the probe was
                // unlucky (a burst of load, or the JIT still warming). Try the way back.
                probe(beforeThreads);
            } else {
                // The switch held: keep going the same way while it pays (e.g. 16 -> 8 -> 4 threads).
                probe(beforeThreads > threads ? down() : up());
            }
        } else if (sinceProbe < MIN_GAP) {
            // Too soon after the last probe: a noisy load moves the median back and forth.
        } else if (now > level * LEVEL_SHIFT) {
            // Slower by a quarter at the same count: others took cores. Fewer threads may wait less.
            level = now;
            period = FIRST_PERIOD;
            probe(down());
        } else if (now * LEVEL_SHIFT < level) {
            // Faster by a quarter: load left. Below the maximum, more threads may pay again.
            level = now;
            period = FIRST_PERIOD;
            probe(up());
        } else if (contended && threads > 1 && sinceProbe >= period) {
            // The loop's own thread waited for a core over a third of the time: load was there from the start (no
            // level change shows it). Fewer threads may wait less; backing off while the current count wins.
            probe(down());
        } else if (threads < max && sinceProbe >= period) {
            // Below the maximum, load leaving hardly changes our step time: look up now and then.
            probe(up());
        }
    }

    /**
     * Whether, in each of the last two windows of {@value #WINDOW} units, this thread spent over
     * {@value #CONTENDED_PERCENT} % of the wall time runnable but waiting for a core (Linux schedstat); false when
     * that is not known.
     */
    private boolean contended() {
        if (++sinceWaitMark >= WINDOW) {
            long wait = waitNanos.getAsLong();
            long now = clock.getAsLong();
            boolean window = wait >= 0 && waitMark >= 0 && now > clockMark
                    && (wait - waitMark) * 100 > (now - clockMark) * CONTENDED_PERCENT;
            contendedWindows = window ? contendedWindows + 1 : 0;
            waitMark = wait;
            clockMark = now;
            sinceWaitMark = 0;
        }
        // Two windows in a row: the JIT's compiler threads alone make a single window look busy on a quiet host.
        return contendedWindows >= 2;
    }

    private int down() {
        return threads > 1 ? Math.max(1, threads / 2) : 0;
    }

    private int up() {
        return threads < max ? Math.min(max, threads * 2) : 0;
    }

    /** Times {@code candidate} threads next; 0 (no such neighbour) only backs off. */
    private void probe(int candidate) {
        sinceProbe = 0;
        if (candidate == 0) {
            backOff();
            return;
        }
        probing = candidate;
        probeWarm = true;
        probeCount = 0;
    }

    /** Nothing to try, or the try lost: wait twice as long before the next look (up to {@link #MAX_PERIOD}). */
    private void backOff() {
        probing = 0;
        period = Math.min(MAX_PERIOD, period * 2);
    }

    private void endProbeUnit(double cost) {
        if (probeWarm) {
            probeWarm = false;
            return;
        }
        probe[probeCount++] = cost;
        if (probeCount < PROBE) return;
        double tried = median(probe, PROBE);
        double current = median(recent, WINDOW);
        int candidate = probing;
        if (tried * 100 < current * (100 - SWITCH_GAIN_PERCENT)) {
            LOG.log(System.Logger.Level.DEBUG, () -> String.format(java.util.Locale.ROOT,
                    "threads %d -> %d: %.3g against %.3g per unit", threads, candidate, tried, current));
            before = current;
            beforeThreads = threads;
            threads = candidate;
            switches++;
            probing = 0;
            recentCount = 0;
            recentNext = 0;
            level = Double.NaN;
            period = FIRST_PERIOD;
            sinceProbe = 0;
            return;
        }
        level = current; // the level the current count runs at now
        sinceProbe = 0;
        backOff();
    }

    /** The median of the first n values (SplitTuner's too). */
    static double median(double[] values, int n) {
        double[] s = Arrays.copyOf(values, n);
        Arrays.sort(s);
        return n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
    }
}
