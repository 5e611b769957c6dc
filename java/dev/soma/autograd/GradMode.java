package dev.soma.autograd;

/**
 * Per-thread switch for recording. Inside {@code try (var g = GradMode.disable()) {...}} ops record nothing
 * (inference, optimizer updates, metric computation).
 */
public final class GradMode {
    private static final ThreadLocal<boolean[]> ENABLED = ThreadLocal.withInitial(() -> new boolean[] {true});

    private GradMode() {}

    public static boolean isEnabled() {
        return ENABLED.get()[0];
    }

    /** Turns recording off until the returned guard is closed (then restores the previous state). */
    public static Guard disable() {
        return set(false);
    }

    /** Turns recording on until the returned guard is closed. */
    public static Guard enable() {
        return set(true);
    }

    private static Guard set(boolean on) {
        boolean[] flag = ENABLED.get();
        boolean previous = flag[0];
        flag[0] = on;
        return () -> flag[0] = previous;
    }

    /** Restores the previous mode on close; never throws. */
    public interface Guard extends AutoCloseable {
        @Override
        void close();
    }
}
