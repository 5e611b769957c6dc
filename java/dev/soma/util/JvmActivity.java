package dev.soma.util;

/**
 * The JVM's own activity so far: garbage collections (count and accumulated pause-or-cycle milliseconds over all
 * collectors) and the JIT compilers' accumulated milliseconds. Step benchmarks take one reading before and one after
 * each step to say which slow steps overlapped a collection or a compilation, and the thread tuner leaves such units
 * out of its decisions. Zeros where the runtime lacks the java.management module (a trimmed jlink image), so a
 * reading never fails.
 */
public record JvmActivity(long gcCount, long gcMillis, long jitMillis) {
    public static final JvmActivity NONE = new JvmActivity(0, 0, 0);

    public static JvmActivity now() {
        try {
            long count = 0, millis = 0;
            for (var gc : java.lang.management.ManagementFactory.getGarbageCollectorMXBeans()) {
                count += Math.max(0, gc.getCollectionCount());
                millis += Math.max(0, gc.getCollectionTime());
            }
            var jit = java.lang.management.ManagementFactory.getCompilationMXBean();
            long jitMillis = jit != null && jit.isCompilationTimeMonitoringSupported() ? jit.getTotalCompilationTime() : 0;
            return new JvmActivity(count, millis, jitMillis);
        } catch (LinkageError absentModule) {
            return NONE;
        }
    }

    /**
     * A counter that grows whenever the JVM collected garbage or compiled (collections plus compilation
     * milliseconds): two equal readings mean neither happened in between.
     */
    public static long ticks() {
        JvmActivity a = now();
        return a.gcCount + a.jitMillis;
    }

    /** What happened between {@code earlier} and this reading. */
    public JvmActivity since(JvmActivity earlier) {
        return new JvmActivity(gcCount - earlier.gcCount, gcMillis - earlier.gcMillis, jitMillis - earlier.jitMillis);
    }

    public boolean quiet() {
        return gcCount == 0 && jitMillis == 0;
    }
}
