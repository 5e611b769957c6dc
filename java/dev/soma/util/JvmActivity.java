package dev.soma.util;

import java.lang.management.CompilationMXBean;
import java.lang.management.GarbageCollectorMXBean;
import java.util.List;

/**
 * The JVM's own activity so far: garbage collections (count and accumulated pause-or-cycle milliseconds over all
 * collectors) and the JIT compilers' accumulated milliseconds. Step benchmarks take one reading before and one after
 * each step to say which slow steps overlapped a collection or a compilation, and the thread tuner leaves such units
 * out of its decisions. Zeros where the runtime lacks the java.management module (a trimmed jlink image), so a
 * reading never fails.
 */
public record JvmActivity(long gcCount, long gcMillis, long jitMillis) {
    public static final JvmActivity NONE = new JvmActivity(0, 0, 0);

    /**
     * The beans, looked up once: {@code ManagementFactory}'s lookups build object names with regular expressions and
     * streams, and doing that per reading gave the JIT compiler fresh work in every measured step of a long run.
     */
    private static final class Beans {
        static final List<GarbageCollectorMXBean> GC;
        static final CompilationMXBean JIT;

        static {
            List<GarbageCollectorMXBean> gc = List.of();
            CompilationMXBean jit = null;
            try {
                gc = List.copyOf(java.lang.management.ManagementFactory.getGarbageCollectorMXBeans());
                CompilationMXBean c = java.lang.management.ManagementFactory.getCompilationMXBean();
                jit = c != null && c.isCompilationTimeMonitoringSupported() ? c : null;
            } catch (LinkageError absentModule) {
                // a runtime without java.management: every reading is NONE
            }
            GC = gc;
            JIT = jit;
        }
    }

    public static JvmActivity now() {
        try {
            long count = 0, millis = 0;
            for (GarbageCollectorMXBean gc : Beans.GC) {
                count += Math.max(0, gc.getCollectionCount());
                millis += Math.max(0, gc.getCollectionTime());
            }
            long jitMillis = Beans.JIT != null ? Beans.JIT.getTotalCompilationTime() : 0;
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
