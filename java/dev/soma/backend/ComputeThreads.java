package dev.soma.backend;

import dev.soma.jni.CpuKernels;
import dev.soma.jni.NativeLibraries;

/**
 * How many OpenMP threads the CPU kernels and oneDNN use when called from the current Java thread.
 *
 * <p>OpenMP keeps that number per calling thread, and oneDNN shares our libgomp (see {@link NativeLibraries}), so
 * one setting here governs both. Two things lower it below the process's maximum ({@code OMP_NUM_THREADS}):
 * small operations, which lose more to waking and joining a team than they gain from it, and a training or
 * serving loop whose {@link ThreadTuner} measured that fewer threads run its steps faster (another process, or the
 * embedding service's own threads, keeping cores busy: then every barrier waits for a preempted thread).
 *
 * <p>oneDNN fixes a primitive's thread count when it builds it, so the primitive caches key on {@link #current()}.
 */
public final class ComputeThreads {
    /**
     * Work, in floating-point operations, below which a oneDNN primitive runs on one thread, and per extra thread
     * above it. 4 MFLOP is about 50 us of one AVX-512 core: a team's wake-up and join cost a few microseconds on a
     * quiet host, but one preempted member can cost a scheduler time slice, so small products stay on one thread.
     */
    static final long FLOPS_PER_THREAD = Long.getLong("soma.cpu.flopsPerThread", 4L << 20);

    private static final int MAX;
    private static final ThreadLocal<int[]> CURRENT;

    static {
        NativeLibraries.cpu();
        MAX = Math.max(1, CpuKernels.soma_cpu_threads());
        CURRENT = ThreadLocal.withInitial(() -> new int[] {MAX});
    }

    private ComputeThreads() {}

    /** The process's thread count: {@code OMP_NUM_THREADS}, or the CPUs this process may use. */
    public static int max() {
        return MAX;
    }

    /** The thread count native CPU work started from this thread uses now. */
    public static int current() {
        return CURRENT.get()[0];
    }

    /** Sets this thread's count, clamped to [1, {@link #max()}]; returns the count that was in force before. */
    public static int set(int threads) {
        int n = Math.max(1, Math.min(MAX, threads));
        int[] cur = CURRENT.get();
        int before = cur[0];
        if (n != before) {
            CpuKernels.soma_cpu_set_threads(n);
            cur[0] = n;
        }
        return before;
    }

    /** Work per extra thread ({@code -Dsoma.cpu.flopsPerThread}): below it, a piece of work runs on one thread. */
    public static long flopsPerThread() {
        return FLOPS_PER_THREAD;
    }

    /** Threads worth waking for {@code flops} of work: at least 1, at most {@link #current()}. */
    public static int forWork(double flops) {
        long useful = (long) Math.min(Integer.MAX_VALUE, Math.max(1, flops / FLOPS_PER_THREAD));
        return (int) Math.min(current(), useful);
    }

    /**
     * Runs the enclosed native work on at most {@code threads} threads, then restores this thread's count:
     * {@code try (var t = ComputeThreads.atMost(ComputeThreads.forWork(flops))) { ... }}.
     */
    public static Limit atMost(int threads) {
        int before = current();
        if (threads >= before) return Limit.NONE;
        set(threads);
        return new Limit(before);
    }

    /** Restores the count in force before {@link #atMost}. */
    public static final class Limit implements AutoCloseable {
        static final Limit NONE = new Limit(0);
        private final int restore;

        private Limit(int restore) {
            this.restore = restore;
        }

        @Override
        public void close() {
            if (restore > 0) set(restore);
        }
    }
}
