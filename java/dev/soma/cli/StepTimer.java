package dev.soma.cli;

import dev.soma.backend.Backends;
import dev.soma.util.CpuInfo;
import dev.soma.util.JitQueue;
import dev.soma.util.JvmActivity;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;

/**
 * Times a training step over warm-up plus timed repetitions and prints the line every {@code bench train-step}
 * ends with: {@code median_ms=.. p90_ms=.. p99_ms=.. min_ms=.. max_ms=..}, after one line of context (CPU model and
 * ISA level, threads, peak RSS, pool, and the process's CPU time per timed step: on a shared, loaded host the CPU
 * time of a single-threaded run ({@code OMP_NUM_THREADS=1}) moves far less than wall time). A third line says how
 * many timed steps overlapped a garbage collection or a JIT compilation and the tail without them
 * ({@code p99_quiet_ms}): the spikes the JVM itself causes, told apart from the engine's.
 */
final class StepTimer {
    private StepTimer() {}

    static int run(PrintWriter out, String model, int batch, int warmup, int steps, Path trace, Runnable step) {
        return run(out, model, batch, warmup, steps, trace, false, step);
    }

    /**
     * The steady state a settling warm-up waits for: no JIT compilation ended for {@value #SETTLED_STEPS} steps and
     * at least four seconds, and none running or queued at the end. On the 2-core hosts the gan step needed about
     * 3,000 steps (12 s) to get there: its p99 over steps 250-500 was 50 ms and over steps 4,000-4,250 2.75 ms, for a
     * median near 2 ms throughout. Methods called once a step reach C2's thresholds only after thousands of steps, so
     * a window of 200 steps and 2 s still let late compilations into the timed steps of 5 of 12 runs. A settling
     * warm-up gives up after two and a half minutes and says so.
     */
    static final int SETTLED_STEPS = 500;
    static final long SETTLED_NANOS = 4_000_000_000L, SETTLE_MAX_NANOS = 150_000_000_000L;

    /**
     * With {@code settle}: after the {@code warmup} steps, more untimed steps until the JIT compilers are done with
     * the step (see {@link #SETTLED_STEPS}), so the timed steps are the steady state: each compilation takes a core
     * from the step's thread team, and C2 compiled the step's large methods for seconds after 500 steps. Prints
     * {@code settle_steps=N settle_s=S settled=true|false}.
     */
    static int run(PrintWriter out, String model, int batch, int warmup, int steps, Path trace, boolean settle,
                   Runnable step) {
        warmUp(warmup, step);
        // Printed after the timed steps: formatting it first had the JIT compiling the formatter during them.
        Settling settling = settle ? settle(step, SETTLED_STEPS, SETTLED_NANOS, SETTLE_MAX_NANOS) : null;
        long cpu0 = processCpuNanos();
        Recorder timed = new Recorder(steps);
        recordSteps(timed, 0, steps, step);
        if (settling != null) out.println(settling.line());
        double[] ms = timed.ms;
        int[] threads = timed.threads;
        JvmActivity[] jvm = timed.jvm;
        long cpuNanos = cpu0 < 0 ? -1 : processCpuNanos() - cpu0;
        if (trace != null) writeTrace(trace, ms, threads, jvm);
        if (dev.soma.backend.KernelProfiler.installed()) profile(out, model, Math.min(steps, 50), step);
        double[] sorted = ms.clone();
        Arrays.sort(sorted);
        double median = median(sorted);
        CpuInfo cpu = CpuInfo.host();
        out.printf(Locale.ROOT, "model=%s batch=%d steps=%d warmup=%d cpu=\"%s\" isa=%s logical_cpus=%d threads=%s "
                        + "last_step_threads=%d short_wait_steps=%d split_one_thread_steps=%d peak_rss_mib=%.0f process_cpu_ms_per_step=%.2f "
                        + "jit_threshold_scaling=%s pool=%s%n",
                model, batch, steps,
                warmup, cpu.model(), cpu.isa(), cpu.logicalCpus(), System.getenv().getOrDefault("OMP_NUM_THREADS", "?"),
                dev.soma.backend.ThreadTuner.lastUnitThreads(), count(timed.shortWaits), count(timed.splitOnOne), peakRssMiB(),
                cpuNanos < 0 ? Double.NaN : cpuNanos / 1e6 / steps, dev.soma.util.JitThresholds.scaling(),
                Backends.cpu().pool().stats());
        out.println(jvmLine(ms, jvm));
        out.printf(Locale.ROOT, "median_ms=%.2f p90_ms=%.2f p99_ms=%.2f min_ms=%.2f max_ms=%.2f%n", median,
                percentile(sorted, 0.90), percentile(sorted, 0.99), sorted[0], sorted[sorted.length - 1]);
        out.flush();
        return 0;
    }

    /** Steps per block when two steps are timed against each other ({@link #runAgainst}). */
    static final int BLOCK = 10;

    /**
     * Times {@code bf16} against {@code f32} (the same model in each precision) in one process: warm-up and settling run
     * both, then the timed steps alternate in blocks of {@value #BLOCK}, each pair of blocks starting with the other
     * precision, so that a host whose speed drifts (other tenants, frequency) slows both alike; runs of separate
     * processes a minute apart differed by 20-30 % on the project's shared hosts. Prints each precision's line, then
     * {@code bf16_over_f32=..} (bf16 median / f32 median) and {@code block_ratio_median=..} (the median over block
     * pairs of their medians' ratio).
     */
    static int runAgainst(PrintWriter out, String model, int batch, int warmup, int steps, boolean settle,
                          Runnable bf16, Runnable f32) {
        Runnable both = () -> {
            bf16.run();
            f32.run();
        };
        warmUp(warmup, both);
        Settling settling = settle ? settle(both, SETTLED_STEPS, SETTLED_NANOS, SETTLE_MAX_NANOS) : null;
        Recorder a = new Recorder(steps), b = new Recorder(steps);
        int blocks = (steps + BLOCK - 1) / BLOCK;
        double[] blockRatios = new double[blocks];
        for (int k = 0; k < blocks; k++) {
            int from = k * BLOCK, to = Math.min(steps, from + BLOCK);
            for (int turn = 0; turn < 2; turn++) {
                boolean bf16Turn = (turn == 0) == (k % 2 == 0);
                Recorder r = bf16Turn ? a : b;
                r.resync(); // the other block's JIT and GC activity is not this one's
                recordSteps(r, from, to, bf16Turn ? bf16 : f32);
            }
            blockRatios[k] = median(sortedRange(a.ms, from, to)) / median(sortedRange(b.ms, from, to));
        }
        if (settling != null) out.println(settling.line());
        CpuInfo cpu = CpuInfo.host();
        out.printf(Locale.ROOT, "model=%s batch=%d steps=%d (each precision) warmup=%d block=%d cpu=\"%s\" isa=%s "
                        + "logical_cpus=%d threads=%s peak_rss_mib=%.0f%n", model, batch, steps, warmup, BLOCK, cpu.model(),
                cpu.isa(), cpu.logicalCpus(), System.getenv().getOrDefault("OMP_NUM_THREADS", "?"), peakRssMiB());
        double f32Median = summary(out, "f32", b);
        double bf16Median = summary(out, "bf16", a);
        Arrays.sort(blockRatios);
        out.printf(Locale.ROOT, "bf16_over_f32=%.3f block_ratio_median=%.3f blocks=%d%n", bf16Median / f32Median,
                median(blockRatios), blocks);
        out.flush();
        return 0;
    }

    /** Prints one precision's {@code precision=.. median_ms=..} line with its JIT and GC counts; returns the median. */
    private static double summary(PrintWriter out, String precision, Recorder r) {
        double[] sorted = r.ms.clone();
        Arrays.sort(sorted);
        out.printf(Locale.ROOT, "precision=%s median_ms=%.2f p90_ms=%.2f p99_ms=%.2f min_ms=%.2f max_ms=%.2f %s%n", precision,
                median(sorted), percentile(sorted, 0.90), percentile(sorted, 0.99), sorted[0], sorted[sorted.length - 1],
                jvmLine(r.ms, r.jvm));
        return median(sorted);
    }

    private static double[] sortedRange(double[] values, int from, int to) {
        double[] part = Arrays.copyOfRange(values, from, to);
        Arrays.sort(part);
        return part;
    }

    /**
     * With {@code -Dsoma.profile=true}: {@code steps} more steps with every kernel call timed, printed as
     * {@code PROFILE kernel calls-per-step ms-per-step share} lines, largest first, after the step's wall time; the
     * rest of the wall time is Java work between kernels (graph, scopes, pool).
     */
    private static void profile(PrintWriter out, String model, int steps, Runnable step) {
        dev.soma.backend.KernelProfiler.start();
        long t0 = System.nanoTime();
        for (int i = 0; i < steps; i++) step.run();
        double wallMs = (System.nanoTime() - t0) / 1e6 / steps;
        java.util.List<dev.soma.backend.KernelProfiler.Entry> entries = dev.soma.backend.KernelProfiler.stop();
        double kernelMs = entries.stream().mapToLong(dev.soma.backend.KernelProfiler.Entry::nanos).sum() / 1e6 / steps;
        out.printf(Locale.ROOT, "PROFILE %-6s %-34s %7s %9.3f ms  kernels %.3f ms (%.0f%%)%n", model, "step", "", wallMs,
                kernelMs, 100 * kernelMs / wallMs);
        for (dev.soma.backend.KernelProfiler.Entry e : entries.subList(0, Math.min(20, entries.size()))) {
            double ms = e.nanos() / 1e6 / steps;
            out.printf(Locale.ROOT, "PROFILE %-6s %-34s %7.1f %9.3f ms  %5.1f%%%n", model, e.name(), e.calls() / (double) steps,
                    ms, 100 * ms / wallMs);
        }
    }

    /**
     * {@link #run(PrintWriter, String, int, int, int, Path, boolean, Runnable)} on {@code device}, then, with
     * {@code -Dsoma.cuda.profilerSteps=N} (bench/gpu/ncu-steps.sh), N more steps inside a CUDA profiler range.
     */
    static int run(PrintWriter out, String model, int batch, int warmup, int steps, Path trace, boolean settle,
                   dev.soma.tensor.Device device, Runnable step) {
        int status = run(out, model, batch, warmup, steps, trace, settle, step);
        dev.soma.backend.cuda.CudaProfilerRange.run(device, dev.soma.backend.cuda.CudaProfilerRange.requestedSteps(), step);
        return status;
    }

    /** How settling went: untimed steps, seconds, and whether the JIT was quiet before the limit. */
    record Settling(int steps, double seconds, boolean settled) {
        String line() {
            return String.format(Locale.ROOT, "settle_steps=%d settle_s=%.1f settled=%b", steps, seconds, settled);
        }
    }

    /**
     * Runs {@code step} until no compilation ended for {@code quietSteps} steps and {@code quietNanos}, and
     * {@link JitQueue} shows none running or queued then (where the JVM cannot say, the counter alone decides), or
     * until {@code maxNanos} passed. The compilation-time counter grows only when a compilation ends, hence the queue.
     * The caller prints {@link Settling#line()} after its timed steps.
     */
    static Settling settle(Runnable step, int quietSteps, long quietNanos, long maxNanos) {
        long t0 = System.nanoTime(), quietSince = t0;
        int extra = 0, quiet = 0;
        Recorder recorder = new Recorder(WARM_RUN);
        boolean settled = false;
        while (System.nanoTime() - t0 < maxNanos) {
            recordSteps(recorder, 0, WARM_RUN, step);
            extra += WARM_RUN;
            if (recorder.jitMillis() != 0) {
                quiet = 0;
                quietSince = System.nanoTime();
            } else if ((quiet += WARM_RUN) >= quietSteps && System.nanoTime() - quietSince >= quietNanos) {
                if (JitQueue.pending() <= 0) {
                    settled = true;
                    break;
                }
                quiet = 0;  // a compilation is running: its end starts the next quiet window
                quietSince = System.nanoTime();
            }
        }
        return new Settling(extra, (System.nanoTime() - t0) / 1e9, settled);
    }

    /**
     * Steps per call of {@link #recordSteps} during warm-up and settling. The timed steps are one call of the same
     * method: compiled from its calls by then, it needs no on-stack replacement, which C2 otherwise did in the first
     * timed steps (compilations of up to 180 ms, beside a step's two threads on two cores). Two, not one, so that
     * the loop's back branch is taken in the profile the JIT compiles from.
     */
    static final int WARM_RUN = 2;

    /** Runs and records steps into slots {@code from..to-1} of {@code r}: warm-up, settling and the timed steps alike. */
    private static void recordSteps(Recorder r, int from, int to, Runnable step) {
        for (int i = from; i < to; i++) r.record(i, step);
    }

    /** {@code warmup} untimed steps through {@link #recordSteps}, {@value #WARM_RUN} per call. */
    private static void warmUp(int warmup, Runnable step) {
        Recorder warm = new Recorder(WARM_RUN);
        for (int i = 0; i < warmup; i += WARM_RUN) recordSteps(warm, 0, Math.min(WARM_RUN, warmup - i), step);
    }

    /** Each step's milliseconds, the tuner's thread count and what the JVM did meanwhile, into slot {@code i}. */
    private static final class Recorder {
        final double[] ms;
        final int[] threads;
        final boolean[] shortWaits;
        final boolean[] splitOnOne;
        final JvmActivity[] jvm;
        private JvmActivity before = JvmActivity.now();

        Recorder(int slots) {
            ms = new double[slots];
            threads = new int[slots];
            shortWaits = new boolean[slots];
            splitOnOne = new boolean[slots];
            jvm = new JvmActivity[slots];
        }

        /** Milliseconds the JIT compilers spent during the steps last recorded in every slot. */
        long jitMillis() {
            long sum = 0;
            for (JvmActivity a : jvm) sum += a == null ? 0 : a.jitMillis();
            return sum;
        }

        /** Starts the next step's JVM activity from now (after steps this recorder did not time). */
        void resync() {
            before = JvmActivity.now();
        }

        void record(int i, Runnable step) {
            long t0 = System.nanoTime();
            step.run();
            ms[i] = (System.nanoTime() - t0) / 1e6;
            JvmActivity after = JvmActivity.now();
            jvm[i] = after.since(before);
            before = after;
            threads[i] = dev.soma.backend.ThreadTuner.lastUnitThreads();
            shortWaits[i] = dev.soma.backend.LoadAwareWaiting.shortWaits();
            splitOnOne[i] = dev.soma.backend.SplitTuner.lastUnitOnOneThread();
        }
    }

    /**
     * {@code jvm_steps_gc=.. jvm_gc_ms=.. jvm_steps_jit=.. jvm_jit_ms=.. p99_quiet_ms=.. quiet_steps=..}: how many timed
     * steps overlapped a collection or a compilation, their totals, and the p99 of the steps that overlapped neither.
     */
    static String jvmLine(double[] ms, JvmActivity[] jvm) {
        int gcSteps = 0, jitSteps = 0;
        long gcMs = 0, jitMs = 0;
        double[] quiet = new double[ms.length];
        int q = 0;
        for (int i = 0; i < ms.length; i++) {
            if (jvm[i].gcCount() > 0) gcSteps++;
            if (jvm[i].jitMillis() > 0) jitSteps++;
            gcMs += jvm[i].gcMillis();
            jitMs += jvm[i].jitMillis();
            if (jvm[i].quiet()) quiet[q++] = ms[i];
        }
        double[] sortedQuiet = Arrays.copyOf(quiet, q);
        Arrays.sort(sortedQuiet);
        return String.format(Locale.ROOT, "jvm_steps_gc=%d jvm_gc_ms=%d jvm_steps_jit=%d jvm_jit_ms=%d p99_quiet_ms=%s "
                + "quiet_steps=%d", gcSteps, gcMs, jitSteps, jitMs,
                q == 0 ? "nan" : String.format(Locale.ROOT, "%.2f", percentile(sortedQuiet, 0.99)), q);
    }

    private static int count(boolean[] flags) {
        int n = 0;
        for (boolean f : flags) if (f) n++;
        return n;
    }

    /** One line per timed step ({@code step,ms,threads,gc,gc_ms,jit_ms}), for finding where the slow steps fall. */
    private static void writeTrace(Path trace, double[] ms, int[] threads, JvmActivity[] jvm) {
        StringBuilder sb = new StringBuilder("step,ms,threads,gc,gc_ms,jit_ms\n");
        for (int i = 0; i < ms.length; i++) {
            sb.append(i).append(',').append(String.format(Locale.ROOT, "%.3f", ms[i])).append(',').append(threads[i])
                    .append(',').append(jvm[i].gcCount()).append(',').append(jvm[i].gcMillis()).append(',')
                    .append(jvm[i].jitMillis()).append('\n');
        }
        try {
            Files.writeString(trace, sb);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException("bench train-step: cannot write the step trace " + trace, e);
        }
    }

    /**
     * CPU time of the whole process (all threads) in ns, or -1 where the JVM does not say, including a trimmed
     * runtime without the java.management / jdk.management modules (the first GPU bundle had none).
     */
    static long processCpuNanos() {
        try {
            if (java.lang.management.ManagementFactory.getOperatingSystemMXBean()
                    instanceof com.sun.management.OperatingSystemMXBean os) {
                return os.getProcessCpuTime();
            }
        } catch (LinkageError absentModule) {
            // fall through: unknown
        }
        return -1;
    }

    /** The median of sorted values (the mean of the middle two for an even count). */
    static double median(double[] sorted) {
        int n = sorted.length;
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    }

    /** The nearest-rank percentile of sorted values (p in (0, 1]). */
    static double percentile(double[] sorted, double p) {
        int rank = (int) Math.ceil(p * sorted.length);
        return sorted[Math.max(0, Math.min(sorted.length - 1, rank - 1))];
    }

    /** VmHWM from /proc (Linux): the process's peak resident memory; NaN elsewhere. */
    static double peakRssMiB() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("VmHWM:")) return Long.parseLong(line.replaceAll("\\D", "")) / 1024.0;
            }
        } catch (IOException | NumberFormatException e) {
            return Double.NaN;
        }
        return Double.NaN;
    }
}
