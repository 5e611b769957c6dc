package dev.soma.backend;

import java.lang.reflect.InvocationHandler;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;
import java.util.stream.Collectors;

/**
 * Time per kernel call, for people who want to know where a training step goes: with {@code -Dsoma.profile=true}
 * at start, every backend's kernel interfaces are wrapped in a proxy; while {@link #start() recording}, each
 * outermost kernel call waits for the device before and after it and adds its wall time to a total per
 * "family.method" (e.g. {@code conv.forward}). Waiting per call makes the sum a little larger than the step (each
 * call pays its launch latency alone), which is the price of attributing device time without hardware counters.
 * Without the property nothing is wrapped, so ordinary runs pay nothing.
 *
 * <p>{@code -Dsoma.profile.sites=memory.copy,elementwise.binary} (kernel names as the report prints them) splits
 * those kernels' totals by call site: the {@value #SITE_FRAMES} frames that called the kernel interface, e.g.
 * which layer's copies a step pays for. Walking the stack costs microseconds per call, so only the named kernels do it.
 */
public final class KernelProfiler {
    private static final boolean INSTALLED = Boolean.getBoolean("soma.profile");
    private static volatile boolean recording;
    private static final ConcurrentHashMap<String, Total> TOTALS = new ConcurrentHashMap<>();
    /** Calls a kernel makes through other kernel interfaces are inside its own time: only depth 0 is timed. */
    private static final ThreadLocal<int[]> DEPTH = ThreadLocal.withInitial(() -> new int[1]);
    private static volatile Set<String> bySite = Set.of(System.getProperty("soma.profile.sites", "").split(","));
    private static final int SITE_FRAMES = 3;

    private KernelProfiler() {}

    /** One row of the report: calls and total nanoseconds of one kernel method. */
    public record Entry(String name, long calls, long nanos) {}

    private static final class Total {
        final LongAdder calls = new LongAdder();
        final LongAdder nanos = new LongAdder();
    }

    /** Whether {@code -Dsoma.profile=true} was set at start (kernel interfaces are wrapped). */
    public static boolean installed() {
        return INSTALLED;
    }

    /** {@code kernels} itself, or a timing proxy of it when profiling is installed; {@code sync} waits for the device. */
    public static <T> T wrap(Class<T> type, T kernels, Runnable sync) {
        return INSTALLED ? timing(type, kernels, sync) : kernels;
    }

    /** The timing proxy, whether or not profiling is installed (tests). */
    static <T> T timing(Class<T> type, T kernels, Runnable sync) {
        String family = type.getSimpleName().replace("Kernels", "").toLowerCase(Locale.ROOT);
        InvocationHandler handler = (proxy, method, args) -> invoke(family, kernels, method, args, sync);
        return type.cast(Proxy.newProxyInstance(type.getClassLoader(), new Class<?>[] {type}, handler));
    }

    private static Object invoke(String family, Object target, Method method, Object[] args, Runnable sync)
            throws Throwable {
        int[] depth = DEPTH.get();
        boolean timed = recording && depth[0] == 0 && method.getDeclaringClass() != Object.class;
        long t0 = 0;
        if (timed) {
            sync.run();
            t0 = System.nanoTime();
        }
        depth[0]++;
        try {
            return method.invoke(target, args);
        } catch (InvocationTargetException e) {
            throw e.getCause();
        } finally {
            depth[0]--;
            if (timed) {
                sync.run();
                String name = family + "." + method.getName();
                if (bySite.contains(name)) name += callSite();
                Total t = TOTALS.computeIfAbsent(name, k -> new Total());
                t.calls.increment();
                t.nanos.add(System.nanoTime() - t0);
            }
        }
    }

    /** Kernels whose totals are split by call site (tests; else {@code -Dsoma.profile.sites}). */
    static void splitBySite(Set<String> kernels) {
        bySite = Set.copyOf(kernels);
    }

    /** " < Class.method:line" for the frames that called the kernel interface (those below the proxy). */
    private static String callSite() {
        return StackWalker.getInstance().walk(frames -> frames
                .dropWhile(f -> !f.getClassName().contains("$Proxy"))
                .skip(1)
                .limit(SITE_FRAMES)
                .map(f -> " < " + f.getClassName().substring(f.getClassName().lastIndexOf('.') + 1) + "."
                        + f.getMethodName() + ":" + f.getLineNumber())
                .collect(Collectors.joining()));
    }

    /** Clears the totals and starts recording. */
    public static void start() {
        TOTALS.clear();
        recording = true;
    }

    /** Stops recording and returns the totals, largest first. */
    public static List<Entry> stop() {
        recording = false;
        List<Entry> out = new ArrayList<>();
        TOTALS.forEach((name, t) -> out.add(new Entry(name, t.calls.sum(), t.nanos.sum())));
        out.sort(Comparator.comparingLong(Entry::nanos).reversed());
        return out;
    }
}
