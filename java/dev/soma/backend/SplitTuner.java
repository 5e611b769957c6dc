package dev.soma.backend;

import dev.soma.jni.CpuKernels;
import dev.soma.jni.NativeLibraries;

import java.util.function.IntUnaryOperator;
import java.util.function.LongSupplier;

/**
 * Chooses, by timing whole units of work (training steps, served batches), whether the loop thread's split-invariant
 * loops run on its OpenMP team above the element grain or on the thread alone.
 *
 * <p>Split-invariant loops are those whose every element is computed the same way whichever thread computes it:
 * element-wise kernels, per-row kernels, copies, optimizer updates, Philox fills, and sums over blocks fixed by the
 * shape ({@code soma::element_grain()} in {@code native/src/dtype_dispatch.h}). Running them on one thread or two
 * changes no bit of any result, so unlike a thread count ({@link ThreadTuner}) this choice is on by default.
 *
 * <p>Why measure at all: on this project's 2-core VMs the second thread made small steps slower. With the optimizer
 * updates and random fills on one thread the gan step at batch 8 took 0.93 ms against 1.37 ms (p99 1.08 against
 * 2.02), while the cnn, whose loops reach millions of elements, needs the team. Timing each loop alone did not find this:
 * a two-thread Adam over 200,704 elements took about as long as one thread, yet the step was slower with it, so
 * what the team costs lies partly outside the loop's own time. So the tuner times the steps themselves. After
 * {@value #WARMUP} units it runs a trial of {@value #BLOCKS} blocks of {@value #BLOCK} units in the order team, one,
 * one, team, team, one, one, team (the first unit of each block is not timed: it carries the switch), and chooses one
 * thread when its median unit is at least {@value #ONE_GAIN_PERCENT} % faster than the team's; else the team (the
 * rule before). A trial whose first two blocks already differ clearly decides there ({@link #clearAfterTwoBlocks}).
 * A switch needs two trials in a row that call for it, the second {@value #CONFIRM_PERIOD} units after the first.
 * Trials repeat after {@value #FIRST_PERIOD} units, the gap doubling up to {@value #MAX_PERIOD} while
 * the choice holds, so a choice follows load that comes or goes. Units during which the JVM compiled or collected
 * garbage ({@link dev.soma.util.JvmActivity}) are not timed.
 *
 * <p>{@code -Dsoma.cpu.splitTuner=false} keeps the team (the rule before); {@code =one} keeps one thread. One tuner
 * per loop, used from the loop's thread only.
 */
public final class SplitTuner {
    /** {@code true} (default): measured; {@code false}: the team above the grain; {@code one}: the thread alone. */
    public static final String PROPERTY = "soma.cpu.splitTuner";
    static final int WARMUP = 20;
    static final int BLOCK = 6;
    static final int BLOCKS = 8;
    static final int ONE_GAIN_PERCENT = 3;
    /** A difference this large after the first two blocks ends the trial there. */
    static final int CLEAR_PERCENT = 10;
    static final long FIRST_PERIOD = 512;
    /** The gap before the trial that confirms (or not) a switch the last one called for. */
    static final long CONFIRM_PERIOD = 128;
    static final long MAX_PERIOD = 8192;
    /** A trial with fewer timed units of either kind decides nothing (too many overlapped the JVM's work). */
    static final int MIN_SAMPLES = 5;
    private static final int PER_KIND = BLOCKS / 2 * (BLOCK - 1);

    /** What a tuner does: {@link #PROPERTY}. */
    enum Policy { MEASURED, TEAM, ONE }

    /** {@code -Dsoma.cpu.splitTuner.trace=true}: one line per trial on standard error. */
    private static final boolean TRACE = Boolean.getBoolean("soma.cpu.splitTuner.trace");
    private static final ThreadLocal<boolean[]> LAST_UNIT_ON_ONE = ThreadLocal.withInitial(() -> new boolean[1]);

    private final Policy policy;
    private final LongSupplier jvmTicks;
    /** Sets the calling thread's switch (1: one thread, 0: the team, below 0: read only) and returns the previous. */
    private final IntUnaryOperator oneThreadSwitch;

    private boolean oneChosen;
    private int warm = WARMUP;
    private long sinceTrial;
    private long period = FIRST_PERIOD;
    private boolean inTrial;
    private int trialUnit;
    private final double[] team = new double[PER_KIND];
    private final double[] one = new double[PER_KIND];
    private int teamCount;
    private int oneCount;
    private long jvmMark;
    private boolean unitTimed;
    private boolean unitOnOne;
    private int trials;
    private int switches;
    /** The last trial called for a switch, which the next must confirm. */
    private boolean pending;

    /** A tuner with the policy {@link #PROPERTY} gives. */
    public SplitTuner() {
        this(policy(), dev.soma.util.JvmActivity::ticks, on -> {
            NativeLibraries.cpu();
            return CpuKernels.soma_cpu_split_invariant_one_thread(on);
        });
    }

    /** With the JVM's activity counter and the native switch given (tests). */
    SplitTuner(Policy policy, LongSupplier jvmTicks, IntUnaryOperator oneThreadSwitch) {
        this.policy = policy;
        this.jvmTicks = jvmTicks;
        this.oneThreadSwitch = oneThreadSwitch;
        this.oneChosen = policy == Policy.ONE;
        this.sinceTrial = period; // the first trial comes right after the warm-up
    }

    /** A tuner that keeps the team and never touches the native switch (for loops tested without the library). */
    static SplitTuner inert() {
        return new SplitTuner(Policy.TEAM, () -> 0, on -> 0);
    }

    static Policy policy() {
        String value = System.getProperty(PROPERTY, "true").trim();
        if (value.equalsIgnoreCase("true")) return Policy.MEASURED;
        if (value.equalsIgnoreCase("false")) return Policy.TEAM;
        if (value.equalsIgnoreCase("one")) return Policy.ONE;
        throw new IllegalArgumentException("-D" + PROPERTY + "=" + value
                + ": expected true (measure), false (the team above the grain) or one (one thread)");
    }

    /**
     * Sets the calling thread's switch for the next unit and returns the setting before, which the caller hands to
     * {@link #restore(int)} when the unit ends, normally or not. {@code timed}: whether this unit's cost may count
     * (false while {@link ThreadTuner} probes another thread count, or where the unit runs on one thread anyway).
     */
    public int begin(boolean timed) {
        if (inTrial && trialUnit >= BLOCKS * BLOCK) decide(); // its last unit threw before end()
        boolean onOne = oneChosen;
        unitTimed = false;
        if (policy == Policy.MEASURED && timed) {
            if (warm > 0) {
                warm--;
            } else if (inTrial || sinceTrial >= period) {
                if (!inTrial) startTrial();
                int block = trialUnit / BLOCK;
                onOne = block % 4 == 1 || block % 4 == 2;
                unitTimed = trialUnit % BLOCK != 0;
                trialUnit++;
            } else {
                sinceTrial++;
            }
        }
        unitOnOne = onOne;
        LAST_UNIT_ON_ONE.get()[0] = onOne;
        if (unitTimed) jvmMark = jvmTicks.getAsLong(); // the MXBean readings only for units whose time counts
        return oneThreadSwitch.applyAsInt(onOne ? 1 : 0);
    }

    /** Reports the cost of the unit begun last (any unit proportional to time per item). */
    public void end(double cost) {
        if (unitTimed && jvmTicks.getAsLong() == jvmMark && cost >= 0 && !Double.isInfinite(cost)) {
            if (unitOnOne) one[oneCount++] = cost;
            else team[teamCount++] = cost;
        }
        unitTimed = false;
        if (inTrial && (trialUnit >= BLOCKS * BLOCK || trialUnit == 2 * BLOCK && clearAfterTwoBlocks())) decide();
    }

    /**
     * Whether the first two blocks (team, then one thread) already tell: their medians differ by more than {@value
     * #CLEAR_PERCENT} % and every timed unit of the slower way took longer than every one of the faster. The cnn's
     * loops of millions of elements on one thread would otherwise make half of a trial's steps slow. The second
     * condition is there for noisy hosts: beside two busy loops, blocks of the same work (both ways the same below
     * the larger grain of short waits) differed 2-3x in their medians, each block with its own spikes.
     */
    private boolean clearAfterTwoBlocks() {
        if (teamCount < MIN_SAMPLES - 2 || oneCount < MIN_SAMPLES - 2) return false;
        double t = ThreadTuner.median(team, teamCount), o = ThreadTuner.median(one, oneCount);
        double clear = 1 + CLEAR_PERCENT / 100.0;
        if (o > clear * t) return min(one, oneCount) > max(team, teamCount);
        if (t > clear * o) return min(team, teamCount) > max(one, oneCount);
        return false;
    }

    /** Hands the calling thread's switch back as {@link #begin(boolean)} found it. */
    public void restore(int before) {
        oneThreadSwitch.applyAsInt(before);
    }

    /** Whether the calling thread's last tuned unit ran its split-invariant loops on the thread alone: for reports. */
    public static boolean lastUnitOnOneThread() {
        return LAST_UNIT_ON_ONE.get()[0];
    }

    /** Whether the loop's split-invariant loops run on its thread alone (the choice in force). */
    public boolean oneThread() {
        return oneChosen;
    }

    /** Trials ended so far. */
    public int trials() {
        return trials;
    }

    /** How often the choice changed. */
    public int switches() {
        return switches;
    }

    private void startTrial() {
        inTrial = true;
        trialUnit = 0;
        teamCount = 0;
        oneCount = 0;
    }

    private void decide() {
        inTrial = false;
        sinceTrial = 0;
        trials++;
        boolean early = trialUnit < BLOCKS * BLOCK;
        if (!early && (teamCount < MIN_SAMPLES || oneCount < MIN_SAMPLES)) {
            period = FIRST_PERIOD; // nothing learned: try again soon
            return;
        }
        double o = ThreadTuner.median(one, oneCount), t = ThreadTuner.median(team, teamCount);
        boolean choose = o <= (1 - ONE_GAIN_PERCENT / 100.0) * t;
        if (TRACE) {
            System.err.printf(java.util.Locale.ROOT, "soma split trial %d: team %.4g, one thread %.4g (one/team %.3f, "
                    + "%d+%d units%s) -> %s%s%n", trials, t, o, o / t, teamCount, oneCount, early ? ", ended early" : "",
                    choose ? "one thread" : "team", choose != oneChosen && !pending ? " (to be confirmed)" : "");
        }
        if (choose == oneChosen) {
            pending = false;
            period = Math.min(MAX_PERIOD, period * 2);
        } else if (!pending) {
            pending = true; // a switch needs a second trial that agrees, soon
            period = CONFIRM_PERIOD;
        } else {
            pending = false;
            oneChosen = choose;
            switches++;
            period = FIRST_PERIOD;
        }
    }

    private static double min(double[] values, int n) {
        double m = Double.POSITIVE_INFINITY;
        for (int i = 0; i < n; i++) m = Math.min(m, values[i]);
        return m;
    }

    private static double max(double[] values, int n) {
        double m = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < n; i++) m = Math.max(m, values[i]);
        return m;
    }
}
